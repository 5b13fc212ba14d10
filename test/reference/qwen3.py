"""Qwen3 checkpoints saved by transformers and what transformers computes with them: the reference
for the engine's forward pass, its padding and its KV-cache generation.

tiny(out): four seeded tiny configs (GQA 2:1 tied, MHA untied, GQA 4:1 with head_dim 24 in bf16,
MQA with head_dim 32 in fp16), each with logits of two sequences run alone, the logits of the same
two as one left-padded batch, and greedy tokens from `generate` (KV cache) on that batch.

real_geometry(out): the Qwen3-0.6B config (28 layers, hidden 1024, 16/8 heads, head_dim 128,
vocab 151936, tied) with random weights stored in bf16, the logits of a short left-padded batch
and greedy tokens from `generate`. About 1.2 GB, so it is made in the run, never committed.
"""
import os

import torch
import transformers
from transformers.initialization import no_init_weights
from safetensors.torch import save_file
from transformers import Qwen3Config, Qwen3ForCausalLM

from common import TINY, left_padded, spread_weights, write_json

# name: (seed, config overrides, storage dtype)
TINY_CONFIGS = {
    "gqa2-tied-f32": (1, dict(num_attention_heads=4, num_key_value_heads=2, head_dim=16, tie_word_embeddings=True), torch.float32),
    "mha-untied-f32": (2, dict(num_attention_heads=4, num_key_value_heads=4, head_dim=16, tie_word_embeddings=False), torch.float32),
    "gqa4-headdim24-untied-bf16": (3, dict(num_attention_heads=8, num_key_value_heads=2, head_dim=24, tie_word_embeddings=False), torch.bfloat16),
    "mqa-headdim32-tied-3layers-f16": (4, dict(num_attention_heads=4, num_key_value_heads=1, head_dim=32, num_hidden_layers=3, tie_word_embeddings=True), torch.float16),
}
INPUTS = [
    [3, 17, 250, 99, 4, 4, 60, 128, 7, 201, 33, 12],
    [200, 5, 81],
]
NEW_TOKENS = 8


def greedy(model, rows, pad_id, new_tokens):
    """transformers' own greedy KV-cache generation of a left-padded batch, no stop token."""
    ids, mask, _ = left_padded(rows, pad_id)
    model.generation_config.eos_token_id = None
    out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens, do_sample=False, pad_token_id=pad_id)
    return out[:, ids.shape[1]:].tolist()


def batch_logits(model, rows, pad_id):
    """Logits of the real positions of each row of a left-padded batch."""
    ids, mask, positions = left_padded(rows, pad_id)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False).logits
    width = ids.shape[1]
    return [logits[b, width - len(r):].tolist() for b, r in enumerate(rows)]


def tiny(out):
    for name, (seed, overrides, dtype) in TINY_CONFIGS.items():
        torch.manual_seed(seed)
        config = Qwen3Config(**{**TINY, **overrides})
        model = Qwen3ForCausalLM(config).eval()
        spread_weights(model, config.vocab_size, config.hidden_size)
        folder = os.path.join(out, "hf-qwen3", name)
        model.to(dtype).save_pretrained(folder, safe_serialization=True)
        # Exactly the stored weights, loaded back as a user would, computed in float64.
        reference = Qwen3ForCausalLM.from_pretrained(folder, dtype=torch.float64).eval()
        with torch.no_grad():
            alone = [reference(torch.tensor([ids]), use_cache=False).logits[0].tolist() for ids in INPUTS]
            padded = batch_logits(reference, INPUTS, config.pad_token_id)
            tokens = greedy(reference, INPUTS, config.pad_token_id, NEW_TOKENS)
        write_json(os.path.join(folder, "logits.json"), {
            "inputs": INPUTS, "logits": alone, "batch_logits": padded, "greedy_tokens": tokens,
            "dtype": str(dtype), "transformers_version": transformers.__version__, "torch_version": torch.__version__,
        })


QWEN3_0_6B = dict(
    vocab_size=151936, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16,
    num_key_value_heads=8, head_dim=128, rms_norm_eps=1e-6, rope_theta=1000000.0, max_position_embeddings=40960,
    tie_word_embeddings=True, bos_token_id=151643, eos_token_id=151645, pad_token_id=151643,
)
REAL_INPUTS = [
    [151644, 872, 198, 15191, 6139, 3200, 6, 30, 151645, 198, 151644, 77091, 198],
    [9707, 11, 1879, 0],
]
REAL_NEW_TOKENS = 12


def real_geometry(out):
    torch.manual_seed(0)
    config = Qwen3Config(**QWEN3_0_6B)
    with no_init_weights():  # spread_weights sets every weight
        model = Qwen3ForCausalLM(config).eval()
    model.tie_weights()  # skipped with the initialisation; without it lm_head would be a second, untied matrix
    assert model.lm_head.weight is model.model.embed_tokens.weight
    spread_weights(model, config.vocab_size, config.hidden_size)
    folder = os.path.join(out, "qwen3-0.6b")
    model.to(torch.bfloat16).save_pretrained(folder, safe_serialization=True)
    del model
    reference = Qwen3ForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    with torch.no_grad():
        padded = batch_logits(reference, REAL_INPUTS, config.pad_token_id)
        tokens = greedy(reference, REAL_INPUTS, config.pad_token_id, REAL_NEW_TOKENS)
    # [position, vocab] per row, float32: 3.4 MB per position, so binary rather than JSON.
    save_file({f"row{b}": torch.tensor(rows, dtype=torch.float32) for b, rows in enumerate(padded)},
              os.path.join(folder, "reference_logits.safetensors"))
    write_json(os.path.join(folder, "reference.json"), {
        "inputs": REAL_INPUTS, "greedy_tokens": tokens, "compute_dtype": "float32", "storage_dtype": "bfloat16",
        "transformers_version": transformers.__version__, "torch_version": torch.__version__,
    })
