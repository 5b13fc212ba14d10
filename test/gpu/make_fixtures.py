"""Reference fixtures from Hugging Face transformers, the Qwen3 implementation nobody here wrote.

For each config below: build a seeded random Qwen3ForCausalLM with transformers itself, save it with
save_pretrained (config.json + model.safetensors), and record its logits for fixed token ids in
logits.json. test/engine/gpu-fixtures.test.ts then checks, on every CPU run of `npm test`, that our
engine loads each folder and reproduces those logits (max relative error under 1e-4).

Needs torch and transformers (>= 4.51, which has Qwen3); no network, no GPU required (a GPU
machine simply has them installed). Usage, from the repository root:

    python test/gpu/make_fixtures.py            # writes test/gpu/fixtures/<name>/
"""
import json
import math
import os
import sys

import torch
import transformers
from transformers import Qwen3Config, Qwen3ForCausalLM

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
VOCAB = 256
BASE = dict(
    vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
    rms_norm_eps=1e-6, rope_theta=1000000.0, max_position_embeddings=512,
    bos_token_id=0, eos_token_id=1, pad_token_id=0,
)
# name: (seed, config overrides, storage dtype)
CONFIGS = {
    "gqa2-tied-f32": (1, dict(num_attention_heads=4, num_key_value_heads=2, head_dim=16, tie_word_embeddings=True), torch.float32),
    "mha-untied-f32": (2, dict(num_attention_heads=4, num_key_value_heads=4, head_dim=16, tie_word_embeddings=False), torch.float32),
    "gqa4-headdim24-untied-bf16": (3, dict(num_attention_heads=8, num_key_value_heads=2, head_dim=24, tie_word_embeddings=False), torch.bfloat16),
    "mqa-headdim32-tied-3layers-f16": (4, dict(num_attention_heads=4, num_key_value_heads=1, head_dim=32, num_hidden_layers=3, tie_word_embeddings=True), torch.float16),
}
# Fixed inputs, run as separate sequences (no padding): the padding path is covered by the CPU tests.
INPUTS = [
    [3, 17, 250, 99, 4, 4, 60, 128, 7, 201, 33, 12],
    [200, 5, 81],
]


def spread_weights(model, hidden):
    """The default 0.02 init gives near-uniform logits; use the spread of the CPU tests' tiny
    checkpoints instead (1/sqrt(fan_in) projections, 2/sqrt(hidden) embeddings, norms near 1)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_(1 + 0.2 * torch.randn_like(p))
            elif p.shape[0] == VOCAB:
                p.normal_(0, 2 / math.sqrt(hidden))
            else:
                p.normal_(0, 1 / math.sqrt(p.shape[1]))


def main():
    for name, (seed, overrides, dtype) in CONFIGS.items():
        torch.manual_seed(seed)
        config = Qwen3Config(**{**BASE, **overrides})
        model = Qwen3ForCausalLM(config).eval()
        spread_weights(model, config.hidden_size)
        folder = os.path.join(OUT, name)
        model.to(dtype).save_pretrained(folder, safe_serialization=True)
        # Logits of exactly the stored weights, loaded back as a user would, computed in float64.
        reference = Qwen3ForCausalLM.from_pretrained(folder, torch_dtype=torch.float64).eval()
        logits = []
        with torch.no_grad():
            for ids in INPUTS:
                out = reference(torch.tensor([ids]), use_cache=False).logits[0]
                logits.append([[float(v) for v in row] for row in out.tolist()])
        with open(os.path.join(folder, "logits.json"), "w") as f:
            json.dump({
                "inputs": INPUTS,
                "logits": logits,
                "dtype": str(dtype),
                "transformers_version": transformers.__version__,
                "torch_version": torch.__version__,
            }, f)
        print(f"{name}: {folder}", file=sys.stderr)


if __name__ == "__main__":
    main()
