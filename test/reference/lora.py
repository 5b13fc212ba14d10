"""LoRA as PEFT does it: a tiny Qwen3 base saved by transformers, a PEFT adapter with random A and
B (init_lora_weights=False, so that the adapter changes the model) on all seven projections, saved
by PEFT; the logits of the adapted model; and PEFT's merge_and_unload weights."""
import os

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import save_file
from transformers import Qwen3ForCausalLM

from common import make_qwen3, write_json
from qwen3 import INPUTS

RANK = 4
ALPHA = 16  # scaling alpha / r = 4: a wrong scaling rule cannot hide
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def fixture(out):
    folder = os.path.join(out, "lora")
    base = make_qwen3(7, num_attention_heads=4, num_key_value_heads=2, head_dim=16, tie_word_embeddings=False)
    base.save_pretrained(os.path.join(folder, "base"), safe_serialization=True)
    torch.manual_seed(8)
    config = LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules=TARGETS, lora_dropout=0.0, bias="none",
                        init_lora_weights=False, task_type="CAUSAL_LM")
    get_peft_model(base, config).save_pretrained(os.path.join(folder, "adapter"))

    # Everything reloaded from the saved files in float64, as a user of PEFT would.
    reference = Qwen3ForCausalLM.from_pretrained(os.path.join(folder, "base"), dtype=torch.float64)
    adapted = PeftModel.from_pretrained(reference, os.path.join(folder, "adapter")).eval()
    with torch.no_grad():
        logits = [adapted(torch.tensor([ids]), use_cache=False).logits[0].tolist() for ids in INPUTS]
    merged = adapted.merge_and_unload()
    state = {name: t.to(torch.float32).contiguous() for name, t in merged.state_dict().items() if name != "lm_head.weight" or not merged.config.tie_word_embeddings}
    save_file(state, os.path.join(folder, "merged.safetensors"))
    write_json(os.path.join(folder, "logits.json"), {"inputs": INPUTS, "logits": logits, "rank": RANK, "alpha": ALPHA, "targets": TARGETS})
