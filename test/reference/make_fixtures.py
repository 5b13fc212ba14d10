"""Writes every reference fixture (test/reference/README.md) under --out:

    python test/reference/make_fixtures.py --out test/reference/fixtures   # the committed ones
    python test/reference/make_fixtures.py --out DIR --real-geometry         # plus the 0.6B case (1.2 GB)

Deterministic for given library versions (every model and input is seeded); needs torch,
transformers, peft, trl and sentence-transformers (requirements.txt), no network, no GPU.
"""
import argparse
import sys
import time

import torch
import transformers

import adamw
import embeddings
import grpo
import lora
import qwen3
from common import versions, write_json


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--real-geometry", action="store_true", help="also the Qwen3-0.6B-geometry checkpoint and its reference")
    args = parser.parse_args()
    torch.set_num_threads(2)
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    parts = [("hf-qwen3", qwen3.tiny), ("lora", lora.fixture), ("grpo", grpo.fixture), ("adamw", adamw.fixture), ("embeddings", embeddings.fixture)]
    if args.real_geometry:
        parts.append(("qwen3-0.6b", qwen3.real_geometry))
    for name, make in parts:
        started = time.time()
        make(args.out)
        print(f"{name}: {time.time() - started:.1f} s", file=sys.stderr)
    write_json(f"{args.out}/versions.json", versions())


if __name__ == "__main__":
    main()
