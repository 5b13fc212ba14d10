"""torch.optim.AdamW after torch.nn.utils.clip_grad_norm_, three steps in float64 on three
parameters, the third with gradients large enough to be clipped: the reference for the project's
optimizer step."""
import os

import torch

from common import write_json

OPTIONS = dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, max_grad_norm=1.0)
SHAPES = {"a": [4, 3], "b": [5], "c": [2, 2]}


def fixture(out):
    torch.manual_seed(51)
    params = {name: torch.randn(*shape, dtype=torch.float64, requires_grad=True) for name, shape in SHAPES.items()}
    initial = {name: p.detach().clone().flatten().tolist() for name, p in params.items()}
    o = OPTIONS
    optimizer = torch.optim.AdamW(params.values(), lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"], weight_decay=o["weight_decay"])
    steps = []
    for scale in [0.05, 0.2, 5.0]:
        grads = {name: scale * torch.randn(*shape, dtype=torch.float64) for name, shape in SHAPES.items()}
        for name, p in params.items():
            p.grad = grads[name].clone()
        norm = torch.nn.utils.clip_grad_norm_(params.values(), o["max_grad_norm"])
        optimizer.step()
        steps.append({
            "grads": {name: g.flatten().tolist() for name, g in grads.items()},
            "grad_norm": float(norm),
            "params": {name: p.detach().flatten().tolist() for name, p in params.items()},
        })
    write_json(os.path.join(out, "adamw", "adamw.json"), {"options": o, "shapes": SHAPES, "initial": initial, "steps": steps})
