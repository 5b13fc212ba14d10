"""Answers the checks that need PyTorch while the tests run (test/reference/helpers.ts, `live`):
reads a JSON list of tasks on stdin and writes a JSON list of answers on stdout, in order.

  {"kind": "hf-logits", "model": DIR, "inputs": [[ids]], "out": FILE}   AutoModelForCausalLM, float64
  {"kind": "peft-logits", "base": DIR, "adapter": DIR, "inputs": ..., "out": FILE}   PeftModel.from_pretrained
  {"kind": "chat-template", "model": DIR, "messages": [...]}            AutoTokenizer.apply_chat_template
  {"kind": "gguf-read", "file": FILE, "out": FILE}   gguf-py's GGUFReader (llama.cpp's own Python reader):
      the metadata, each tensor's name, type and dims (innermost first), its values dequantized to out

Logits go to FILE as safetensors (tensor "row<k>" = [positions, vocab] of input k, float64): at
vocab 151936 they would be hundreds of MB of JSON.
"""
import json
import sys

import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer


def logits(model, task):
    with torch.no_grad():
        rows = {f"row{k}": model(torch.tensor([ids]), use_cache=False).logits[0].contiguous() for k, ids in enumerate(task["inputs"])}
    save_file(rows, task["out"])
    return task["out"]


def gguf_read(task):
    import gguf
    import numpy as np
    from safetensors.numpy import save_file as save_numpy

    reader = gguf.GGUFReader(task["file"])
    metadata = {}
    for field in reader.fields.values():
        if field.name.startswith("GGUF."):
            continue
        values = [field.contents(i) for i in range(len(field.data))] if field.types[0] == gguf.GGUFValueType.ARRAY else field.contents()
        metadata[field.name] = len(values) if field.name in ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges") else values
    tensors = [{"name": t.name, "type": t.tensor_type.name, "dims": [int(d) for d in t.shape]} for t in reader.tensors]
    save_numpy({t.name: np.ascontiguousarray(gguf.quants.dequantize(t.data, t.tensor_type), dtype=np.float32) for t in reader.tensors}, task["out"])
    return {"metadata": metadata, "tensors": tensors}


def answer(task):
    if task["kind"] == "hf-logits":
        model = AutoModelForCausalLM.from_pretrained(task["model"], dtype=torch.float64).eval()
        return {"logits": logits(model, task), "class": type(model).__name__}
    if task["kind"] == "peft-logits":
        from peft import PeftModel
        base = AutoModelForCausalLM.from_pretrained(task["base"], dtype=torch.float64)
        return {"logits": logits(PeftModel.from_pretrained(base, task["adapter"]).eval(), task)}
    if task["kind"] == "chat-template":
        tokenizer = AutoTokenizer.from_pretrained(task["model"])
        text = tokenizer.apply_chat_template(task["messages"], tokenize=False, add_generation_prompt=True)
        return {"text": text, "ids": tokenizer(text, add_special_tokens=False)["input_ids"]}
    if task["kind"] == "gguf-read":
        return gguf_read(task)
    raise ValueError(f"unknown task {task['kind']}")


def main():
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    torch.set_num_threads(1)
    json.dump([answer(task) for task in json.load(sys.stdin)], sys.stdout)


if __name__ == "__main__":
    main()
