"""What the reference scripts share: seeded tiny Qwen3 models made by transformers itself, with the
weight spread of the project's own test checkpoints, and JSON output."""
import json
import math
import os

import torch
from transformers import Qwen3Config, Qwen3ForCausalLM

TINY = dict(
    vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
    rms_norm_eps=1e-6, rope_theta=1000000.0, max_position_embeddings=512,
    bos_token_id=0, eos_token_id=1, pad_token_id=0,
)


def spread_weights(model, vocab, hidden):
    """transformers' 0.02 init gives near-uniform logits; use the spread of the project's tiny
    checkpoints instead (1/sqrt(fan_in) projections, 2/sqrt(hidden) embeddings, norms near 1)."""
    with torch.no_grad():
        for _, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_(1 + 0.2 * torch.randn_like(p))
            elif p.shape[0] == vocab:
                p.normal_(0, 2 / math.sqrt(hidden))
            else:
                p.normal_(0, 1 / math.sqrt(p.shape[1]))


def make_qwen3(seed, **overrides):
    """A seeded random Qwen3ForCausalLM in float32, eval mode."""
    torch.manual_seed(seed)
    config = Qwen3Config(**{**TINY, **overrides})
    model = Qwen3ForCausalLM(config).eval()
    spread_weights(model, config.vocab_size, config.hidden_size)
    return model


def left_padded(rows, pad_id):
    """input_ids, attention_mask and position_ids of a left-padded batch, as transformers'
    generate derives the positions from the mask."""
    width = max(len(r) for r in rows)
    ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids, mask, positions


def write_json(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(value, f)


def versions():
    import peft
    import transformers
    import trl
    return {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__, "trl": trl.__version__}
