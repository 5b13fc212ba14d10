"""The PyTorch peers of the benchmarks (bench/engine.ts, bench/train.ts), on the same checkpoint,
tokens and thread count as the project's measurement; prints one JSON line.

    python bench/peers/pytorch.py generate --model DIR --threads 2 --batch 8 --prompt 16 --new-tokens 40 --rounds 3
        transformers' generate (greedy, KV cache, float32): decode tokens/s from the time each
        step's tokens reach a streamer (prefill excluded), best round; the prefill time and rate; peak RSS.
    python bench/peers/pytorch.py train-step --model DIR --threads 2 --batch 4 --length 256 --prompt 64 --mode lora --steps 3
        a TRL-style GRPO step (TRL's "grpo" loss: clipped ratio, k3 KL, per-sequence token mean)
        forward and backward, LoRA r=16 on every projection through PEFT, or full fine-tuning
        (--recompute: with gradient checkpointing); best of --steps after a warm-up; peak RSS.
"""
import argparse
import json
import resource
import time

import torch
import transformers
from transformers import AutoModelForCausalLM


def prompts(batch, length, vocab):
    # the token pattern of the project's benchmarks: (b * 31 + j * 7) mod 256
    return torch.tensor([[(b * 31 + j * 7) % min(256, vocab) for j in range(length)] for b in range(batch)])


class Stamps:
    """A streamer that only records when each step's tokens arrive (put is called once with the prompt, then once per step)."""

    def __init__(self):
        self.times = []

    def put(self, _):
        self.times.append(time.perf_counter())

    def end(self):
        pass


def generate(args):
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    model.generation_config.eos_token_id = None
    ids = prompts(args.batch, args.prompt, model.config.vocab_size)
    best, prefill = 0.0, float("inf")
    with torch.no_grad():
        model.generate(input_ids=ids[:1, :8], attention_mask=torch.ones_like(ids[:1, :8]), max_new_tokens=2, do_sample=False, pad_token_id=0)  # warm-up
        for _ in range(args.rounds):
            stamps = Stamps()
            started = time.perf_counter()
            model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=args.new_tokens, do_sample=False,
                           pad_token_id=0, streamer=stamps)
            steps = stamps.times[1:]  # the tokens of each step
            prefill = min(prefill, steps[0] - started)
            best = max(best, args.batch * (len(steps) - 1) / (steps[-1] - steps[0]))
    return {"decode_tokens_per_s": best, "prefill_s": prefill, "prefill_tokens_per_s": args.batch * args.prompt / prefill,
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def train_step(args):
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    if args.mode == "lora":
        from peft import LoraConfig, get_peft_model
        model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, task_type="CAUSAL_LM",
                                                 target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    if args.recompute:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    ids = prompts(args.batch, args.length + 1, model.config.vocab_size)
    completion = args.length + 1 - args.prompt
    # the middle third of each response is environment feedback (mask 0), as in bench/train.ts
    mask = torch.tensor([[0 if completion / 3 < i < 2 * completion / 3 else 1 for i in range(completion)]] * args.batch, dtype=torch.float32)
    advantages = torch.tensor([0.7 if b % 2 else -0.9 for b in range(args.batch)]).unsqueeze(1)

    def step():
        model.zero_grad()
        logits = model(input_ids=ids[:, :-1], use_cache=False).logits[:, args.prompt - 1:]
        logp = torch.log_softmax(logits, -1).gather(-1, ids[:, args.prompt:].unsqueeze(-1)).squeeze(-1)
        old = logp.detach()
        ratio = torch.exp(logp - old)
        per_token = -torch.min(ratio * advantages, torch.clamp(ratio, 0.8, 1.2) * advantages)
        per_token = per_token + 0.001 * (torch.exp(old - logp) - (old - logp) - 1)
        loss = ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1)).mean()
        loss.backward()

    step()  # warm-up
    times = []
    for _ in range(args.steps):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return {"step_s": min(times), "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["generate", "train-step"])
    parser.add_argument("--model", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--prompt", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--mode", choices=["lora", "full"], default="lora")
    parser.add_argument("--recompute", action="store_true", help="gradient checkpointing per layer")
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    result = generate(args) if args.what == "generate" else train_step(args)
    print(json.dumps({**result, "torch": torch.__version__, "transformers": transformers.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
