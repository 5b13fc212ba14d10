"""The GRPO loss and its gradients, by PyTorch autograd, on a tiny Qwen3 (tied embeddings) with a
PEFT LoRA adapter, for fixed token sequences with environment tokens masked out:

- verl: the published objective, a line-by-line port of verl's compute_policy_loss_vanilla (PPO
  clip with clip-higher, dual clip), kl_penalty("low_var_kl") (k3 with its clamps), agg_loss
  ("token-mean") and the actor's policy_loss = pg_loss - entropy_coeff * entropy + kl_coef * kl;
  gradients of the LoRA factors, and of every weight for full fine-tuning;
- TRL: GRPOTrainer._compute_loss itself (loss_type "grpo" and "dr_grpo", with the plain k3 KL that
  verl uses: use_bias_correction_kl=False), on the same tokens.

Rows are packed as the project's trainer packs them (position i predicts token i + 1, rows right
padded), so the fixture also pins that layout.
"""
import math
import os
import tempfile

import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file

from common import make_qwen3, write_json

PAD = 0
PROMPT = [11, 42, 97, 5]
COMPLETIONS = [[23, 180, 61, 7, 200, 33], [150, 9, 88, 120], [64, 201, 17, 250, 3]]
# 1: a token the agent sampled; 0: an environment token inserted into its context
LOSS_MASKS = [[1, 1, 0, 0, 1, 1], [1, 1, 1, 1], [1, 0, 1, 1, 1]]
ADVANTAGES = [1.3, -0.7, -2.0]
VERL = dict(clip_low=0.2, clip_high=0.28, dual_clip=3.0, kl_coef=0.05, entropy_coef=0.01)
TRL = dict(clip_low=0.2, clip_high=0.28, kl_coef=0.05)
RANK, ALPHA = 2, 4
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def pack():
    """The project's packBatch: tokens = prompt + completion, L = longest - 1, right padding."""
    rows = [PROMPT + c for c in COMPLETIONS]
    L = max(len(r) for r in rows) - 1
    ids, attention, positions, targets, mask = [], [], [], [], []
    for r, m in zip(rows, LOSS_MASKS):
        real = [i < len(r) - 1 for i in range(L)]
        ids.append([r[i] if real[i] else PAD for i in range(L)])
        attention.append([1 if x else 0 for x in real])
        positions.append(list(range(L)))
        targets.append([r[i + 1] if real[i] else PAD for i in range(L)])
        mask.append([m[i + 1 - len(PROMPT)] if real[i] and i + 1 >= len(PROMPT) else 0 for i in range(L)])
    return {k: torch.tensor(v) for k, v in dict(input_ids=ids, attention_mask=attention, position_ids=positions, targets=targets, loss_mask=mask).items()}


# ---- verl (verl/trainer/ppo/core_algos.py, verl/utils/torch_functional.py), ported as written ----

def masked_mean(values, mask):
    return (values * mask).sum() / mask.sum()


def agg_loss(loss_mat, loss_mask, loss_agg_mode):
    if loss_agg_mode == "token-mean":
        return masked_mean(loss_mat, loss_mask)
    raise ValueError(loss_agg_mode)


def compute_policy_loss(old_log_prob, log_prob, advantages, response_mask, cliprange_low, cliprange_high, clip_ratio_c):
    negative_approx_kl = log_prob - old_log_prob
    negative_approx_kl = torch.clamp(negative_approx_kl, min=-20.0, max=20.0)
    ratio = torch.exp(negative_approx_kl)
    ppo_kl = masked_mean(-negative_approx_kl, response_mask)
    pg_losses1 = -advantages * ratio
    pg_losses2 = -advantages * torch.clamp(ratio, 1 - cliprange_low, 1 + cliprange_high)
    clip_pg_losses1 = torch.maximum(pg_losses1, pg_losses2)
    pg_clipfrac = masked_mean(torch.gt(pg_losses2, pg_losses1).float(), response_mask)
    pg_losses3 = -advantages * clip_ratio_c
    clip_pg_losses2 = torch.min(pg_losses3, clip_pg_losses1)
    pg_clipfrac_lower = masked_mean(torch.gt(clip_pg_losses1, pg_losses3) * (advantages < 0).float(), response_mask)
    pg_losses = torch.where(advantages < 0, clip_pg_losses2, clip_pg_losses1)
    pg_loss = agg_loss(pg_losses, response_mask, "token-mean")
    return pg_loss, pg_clipfrac, ppo_kl, pg_clipfrac_lower, ratio


def kl_penalty_low_var(logprob, ref_logprob):
    kl = ref_logprob - logprob
    kl = torch.clamp(kl, min=-20, max=20)
    ratio = torch.exp(kl)
    kld = (ratio - kl - 1).contiguous()
    return torch.clamp(kld, min=-10, max=10)


def entropy_from_logits(logits):
    pd = torch.nn.functional.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - torch.sum(pd * logits, dim=-1)


def token_logprobs(model, batch):
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], position_ids=batch["position_ids"], use_cache=False).logits
    logp = torch.log_softmax(logits, dim=-1).gather(-1, batch["targets"].unsqueeze(-1)).squeeze(-1)
    return logits, logp


def offsets(shape, kind):
    """old = logp - offset: ratios on every side of the clip range; 'verl' also puts one past the dual clip."""
    cycle = [0.0, 0.35, -0.4, 0.1, -0.05, 0.3, -0.3]
    if kind == "verl":
        cycle[4] = math.log(4.0)  # ratio 4 > dual_clip 3
    flat = [cycle[i % len(cycle)] for i in range(shape[0] * shape[1])]
    return torch.tensor(flat).reshape(shape)


def verl_loss(model, batch, old, ref, o):
    logits, logp = token_logprobs(model, batch)
    mask = batch["loss_mask"].float()
    adv = torch.tensor(ADVANTAGES).unsqueeze(1).expand_as(logp)
    pg_loss, clipfrac, ppo_kl, clipfrac_lower, ratio = compute_policy_loss(old, logp, adv, mask, o["clip_low"], o["clip_high"], o["dual_clip"])
    kl = agg_loss(kl_penalty_low_var(logp, ref), mask, "token-mean")
    entropy = agg_loss(entropy_from_logits(logits), mask, "token-mean")
    loss = pg_loss - o["entropy_coef"] * entropy + o["kl_coef"] * kl
    inside = mask > 0
    metrics = {
        "pg_loss": pg_loss, "kl": kl, "entropy": entropy, "nll": masked_mean(-logp, mask),
        "clip_frac": clipfrac, "clip_frac_lower": clipfrac_lower, "ppo_kl": ppo_kl,
        "ratio_mean": masked_mean(ratio, mask), "ratio_max": ratio[inside].max(), "ratio_min": ratio[inside].min(),
    }
    return loss, {k: float(v.detach()) for k, v in metrics.items()}


def lora_model(base):
    torch.manual_seed(31)
    config = LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules=TARGETS, lora_dropout=0.0, bias="none", init_lora_weights=False, task_type="CAUSAL_LM")
    return get_peft_model(base, config)


def lora_grads(peft_model):
    """Gradients by the adapter file's names (PEFT drops the adapter name '.default' when saving)."""
    return {n.replace(".default", ""): p.grad.detach().clone() for n, p in peft_model.named_parameters() if ".default." in n and p.grad is not None}


def logprob_inputs(model, batch, kind):
    with torch.no_grad():
        _, logp = token_logprobs(model, batch)
    old = logp - offsets(logp.shape, kind)
    torch.manual_seed(41)
    ref = logp + 0.2 * torch.randn(logp.shape)
    return old, ref


def trl_trainer(peft_model):
    """TRL's GRPOTrainer around the adapted model (constructed offline; its training loop is not run)."""
    from datasets import Dataset
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast
    from trl import GRPOConfig, GRPOTrainer

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({f"t{i}": i for i in range(256)}, unk_token="t1")),
                                        pad_token="t0", eos_token="t1")
    with tempfile.TemporaryDirectory() as out:
        args = GRPOConfig(output_dir=out, per_device_train_batch_size=3, num_generations=3, max_completion_length=max(len(c) for c in COMPLETIONS),
                          beta=TRL["kl_coef"], epsilon=TRL["clip_low"], epsilon_high=TRL["clip_high"], report_to=[], use_cpu=True,
                          # TRL 1.x multiplies the KL by the importance ratio by default; verl and this
                          # project do not, so the shared variant is the plain k3 KL
                          use_bias_correction_kl=False,
                          bf16=False, gradient_accumulation_steps=1, logging_steps=1, disable_tqdm=True)
        trainer = GRPOTrainer(model=peft_model, reward_funcs=lambda completions, **_: [0.0] * len(completions), args=args,
                              train_dataset=Dataset.from_list([{"prompt": "t2"}] * 3), processing_class=tokenizer)
    trainer.current_gradient_accumulation_steps = 1  # set by the training loop
    return trainer


def trl_loss(trainer, old, ref, loss_type):
    """GRPOTrainer._compute_loss itself on the same rows: prompts of equal length (TRL left-pads
    prompts), completions right-padded, the environment tokens as TRL's tool_mask."""
    P, C = len(PROMPT), max(len(c) for c in COMPLETIONS)
    trainer.loss_type = loss_type
    model = trainer.model
    model.train()
    inputs = {
        "prompt_ids": torch.tensor([PROMPT] * 3), "prompt_mask": torch.ones(3, P, dtype=torch.long),
        "completion_ids": torch.tensor([c + [PAD] * (C - len(c)) for c in COMPLETIONS]),
        "completion_mask": torch.tensor([[1] * len(c) + [0] * (C - len(c)) for c in COMPLETIONS]),
        "tool_mask": torch.tensor([m + [0] * (C - len(m)) for m in LOSS_MASKS]),
        "advantages": torch.tensor(ADVANTAGES),
        "old_per_token_logps": old[:, P - 1:], "ref_per_token_logps": ref[:, P - 1:],
        "num_items_in_batch": torch.tensor(float(sum(map(sum, LOSS_MASKS)))),
    }
    model.zero_grad()
    loss = trainer._compute_loss(model, inputs)
    loss.backward()
    return float(loss.detach()), lora_grads(model)


def fixture(out):
    folder = os.path.join(out, "grpo")
    base = make_qwen3(21, hidden_size=32, intermediate_size=48, num_attention_heads=4, num_key_value_heads=2, head_dim=8, tie_word_embeddings=True)
    base.save_pretrained(os.path.join(folder, "base"), safe_serialization=True)
    batch = pack()
    results = {}

    # Full fine-tuning: every weight of the base (the tied embedding once).
    base.train()
    old, ref = logprob_inputs(base, batch, "verl")
    base.zero_grad()
    loss, metrics = verl_loss(base, batch, old, ref, VERL)
    loss.backward()
    save_file({n: p.grad.contiguous() for n, p in base.named_parameters()}, os.path.join(folder, "grads-verl-full.safetensors"))
    results["verl-full"] = {"loss": float(loss.detach()), "metrics": metrics, "old_logprobs": old.tolist(), "ref_logprobs": ref.tolist()}

    peft_model = lora_model(base)
    peft_model.save_pretrained(os.path.join(folder, "adapter"))
    peft_model.train()
    old, ref = logprob_inputs(peft_model, batch, "verl")
    peft_model.zero_grad()
    loss, metrics = verl_loss(peft_model, batch, old, ref, VERL)
    loss.backward()
    save_file(lora_grads(peft_model), os.path.join(folder, "grads-verl-lora.safetensors"))
    results["verl-lora"] = {"loss": float(loss.detach()), "metrics": metrics, "old_logprobs": old.tolist(), "ref_logprobs": ref.tolist()}

    trainer = trl_trainer(peft_model)
    for loss_type in ["grpo", "dr_grpo"]:
        old, ref = logprob_inputs(peft_model, batch, "trl")
        loss, grads = trl_loss(trainer, old, ref, loss_type)
        save_file(grads, os.path.join(folder, f"grads-trl-{loss_type}-lora.safetensors"))
        results[f"trl-{loss_type}-lora"] = {"loss": loss, "old_logprobs": old.tolist(), "ref_logprobs": ref.tolist()}

    write_json(os.path.join(folder, "grpo.json"), {
        "rows": [{"tokens": PROMPT + c, "promptLength": len(PROMPT), "lossMask": m} for c, m in zip(COMPLETIONS, LOSS_MASKS)],
        "packed": {k: v.tolist() for k, v in batch.items()}, "advantages": ADVANTAGES, "pad": PAD,
        "verl": VERL, "trl": TRL, "lora": {"rank": RANK, "alpha": ALPHA, "targets": TARGETS},
        "max_completion_length": max(len(c) for c in COMPLETIONS), "results": results,
    })
