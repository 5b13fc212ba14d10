"""Greedy tokens of PyTorch transformers on the GPU for test/gpu/check.ts: float32 weights, TF32 off
(as the engine's CUDA sessions run), one prompt at a time. Reads {"model", "prompts", "new_tokens"}
on stdin, prints {"tokens": [[...]], "tokens_per_s": ...} (batch 1 decode rate of the first prompt)."""
import json
import sys
import time

import torch
from transformers import AutoModelForCausalLM

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
task = json.load(sys.stdin)
model = AutoModelForCausalLM.from_pretrained(task["model"], dtype=torch.float32).to("cuda").eval()
model.generation_config.eos_token_id = None
out, rate = [], None
with torch.no_grad():
    for ids in task["prompts"]:
        x = torch.tensor([ids], device="cuda")
        torch.cuda.synchronize()
        started = time.perf_counter()
        y = model.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=task["new_tokens"], do_sample=False, pad_token_id=0)
        torch.cuda.synchronize()
        rate = rate or task["new_tokens"] / (time.perf_counter() - started)
        out.append(y[0, len(ids):].tolist())
print(json.dumps({"tokens": out, "tokens_per_s": rate, "torch": torch.__version__}))
