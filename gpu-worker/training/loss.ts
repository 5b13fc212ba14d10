// The GRPO loss as graph nodes over the model's logits, and the same loss in plain TypeScript as
// the reference the graph is checked against. It follows verl's compute_policy_loss / kl_penalty
// ("low_var_kl") / agg_loss, which the published Prompt-R1 training runs.
//
// Every aggregate is a weighted sum, sum(x * w), with the per-token weights fed in (lossWeights in
// update.ts): the loss terms (policy loss, KL, entropy, NLL) use the aggregation mode's weights,
// the diagnostics (clip fractions, ppo_kl, ratio mean) token means, as verl computes them whatever
// the mode. Weights are normalised over the whole mini-batch, so micro-batch gradients add up.
import type { Graph } from '../engine/onnx.ts'

export interface GrpoLossOptions {
  /** 'grpo': the clipped policy-gradient loss; 'sft': token negative log-likelihood (warm-start on demonstrations). */
  objective: 'grpo' | 'sft'
  /** Ratio clipped to [1 - clipLow, 1 + clipHigh] (0.2 / 0.2 published; DAPO's clip-higher raises clipHigh). */
  clipLow: number
  clipHigh: number
  /** Dual clip: for negative advantages the loss is at most -A * dualClip (3.0 published). */
  dualClip: number
  /** k3 KL to the reference policy (0.001 published). */
  klCoef: number
  /** Entropy bonus (0 published). */
  entropyCoef: number
}

export const GRPO_LOSS_DEFAULTS: GrpoLossOptions = { objective: 'grpo', clipLow: 0.2, clipHigh: 0.2, dualClip: 3, klCoef: 0.001, entropyCoef: 0 }

/** Metrics that add up over micro-batches (each is already normalised over the mini-batch). */
export const SUMMED_METRICS = ['pg_loss', 'kl', 'entropy', 'clip_frac', 'clip_frac_lower', 'ppo_kl', 'ratio_mean', 'nll'] as const
/** Metrics combined by max / min over micro-batches. */
export const MAX_METRICS = ['ratio_max'] as const
export const MIN_METRICS = ['ratio_min'] as const
export type LossMetric = (typeof SUMMED_METRICS)[number] | (typeof MAX_METRICS)[number] | (typeof MIN_METRICS)[number]

/**
 * How per-token losses become one number, as verl's agg_loss names them. 'token-mean' (published):
 * the mean over the mask-1 tokens of the mini-batch. 'seq-mean-token-mean' (TRL's "grpo"): the mean
 * over sequences of each sequence's token mean. 'seq-mean-token-sum-norm' (Dr.GRPO, TRL's "dr_grpo"):
 * the token sum over sequences x normLength, a constant, so long answers are not down-weighted.
 */
export type Aggregation =
  | { kind: 'token-mean' }
  | { kind: 'seq-mean-token-mean' }
  | { kind: 'seq-mean-token-sum-norm'; normLength: number }

export interface TokenWeights {
  /** Per position: the aggregation's weight of each loss term (0 off the mask). */
  loss: Float64Array
  /** Per position: mask / the mini-batch's mask-1 tokens, for the token means of the diagnostics. */
  token: Float64Array
}

/**
 * The weights of every position of each micro-batch, normalised over the whole mini-batch they
 * form. A sequence without mask-1 tokens counts as a sequence with a zero loss (as TRL clamps its
 * token count to 1).
 */
export function lossWeights(batches: { B: number; L: number; lossMask: number[] }[], aggregation: Aggregation): TokenWeights[] {
  const tokens = Math.max(1, batches.reduce((s, b) => s + b.lossMask.reduce((a, m) => a + m, 0), 0))
  const sequences = batches.reduce((s, b) => s + b.B, 0)
  return batches.map(({ B, L, lossMask }) => {
    const loss = new Float64Array(B * L)
    const token = Float64Array.from(lossMask, (m) => m / tokens)
    for (let b = 0; b < B; b++) {
      const row = lossMask.slice(b * L, (b + 1) * L)
      const norm = aggregation.kind === 'token-mean' ? tokens
        : aggregation.kind === 'seq-mean-token-mean' ? Math.max(1, row.reduce((a, m) => a + m, 0)) * sequences
        : sequences * aggregation.normLength
      row.forEach((m, i) => (loss[b * L + i] = m / norm))
    }
    return { loss, token }
  })
}

/** Token log-probabilities [B, L] of `targets` under `logits` [B, L, V]: log-softmax, then a one-hot select (the gather). */
export function tokenLogprobs(g: Graph, logits: string, targets: string, vocab: number): { logp: string; tokenLogp: string } {
  const logp = g.logSoftmax(logits, -1) // [B, L, V]
  const ids = g.range(g.constant([0], 'int64', []), g.constant([vocab], 'int64', []), g.constant([1], 'int64', [])) // [V]
  const hot = g.cast(g.equal(g.unsqueeze(targets, [2]), ids), g.float) // [B, L, V]
  return { logp, tokenLogp: g.reduceSum(g.mul(logp, hot), [2], 0) }
}

/** Adds the loss inputs and nodes; returns the scalar loss, the token logprobs and the metrics. */
export function addGrpoLoss(g: Graph, logits: string, vocab: number, options: GrpoLossOptions) {
  const rows = ['batch_size', 'sequence_length']
  const targets = g.input('targets', 'int64', rows)
  const lossWeights = g.input('loss_weights', g.float, rows)
  const tokenWeights = g.input('token_weights', g.float, rows)
  const adv = g.input('advantages', g.float, rows)
  const old = g.input('old_logprobs', g.float, rows)
  const ref = g.input('ref_logprobs', g.float, rows)
  const agg = (x: string) => g.reduceSum(g.mul(x, lossWeights), [0, 1], 0)
  const tokenMean = (x: string) => g.reduceSum(g.mul(x, tokenWeights), [0, 1], 0)
  const s = (v: number) => g.scalar(v)

  const { logp, tokenLogp } = tokenLogprobs(g, logits, targets, vocab)
  const entropy = g.neg(g.reduceSum(g.mul(g.exp(logp), logp), [2], 0)) // [B, L]

  const negApproxKl = g.clip(g.sub(tokenLogp, old), s(-20), s(20))
  const ratio = g.exp(negApproxKl)
  const negAdv = g.neg(adv)
  const pg1 = g.mul(negAdv, ratio)
  const pg2 = g.mul(negAdv, g.clip(ratio, s(1 - options.clipLow), s(1 + options.clipHigh)))
  const clipped = g.max(pg1, pg2)
  const pg3 = g.mul(negAdv, s(options.dualClip))
  const negative = g.less(adv, s(0))
  const pg = g.where(negative, g.min(pg3, clipped), clipped)

  const diff = g.clip(g.sub(ref, tokenLogp), s(-20), s(20))
  const kl = g.clip(g.sub(g.sub(g.exp(diff), diff), s(1)), s(-10), s(10)) // k3, clamped

  const pgLoss = agg(pg)
  const klLoss = agg(kl)
  const entropyLoss = agg(entropy)
  const nll = agg(g.neg(tokenLogp))
  let loss: string
  if (options.objective === 'sft') loss = nll
  else {
    loss = pgLoss
    if (options.klCoef) loss = g.add(loss, g.mul(klLoss, s(options.klCoef)))
    if (options.entropyCoef) loss = g.sub(loss, g.mul(entropyLoss, s(options.entropyCoef)))
  }
  const flag = (b: string) => g.cast(b, g.float)
  const inMask = g.greater(tokenWeights, s(0))
  const metrics: Record<LossMetric, string> = {
    pg_loss: pgLoss, kl: klLoss, entropy: entropyLoss, nll,
    clip_frac: tokenMean(flag(g.greater(pg2, pg1))),
    clip_frac_lower: tokenMean(g.mul(flag(g.greater(clipped, pg3)), flag(negative))),
    ppo_kl: tokenMean(g.neg(negApproxKl)),
    ratio_mean: tokenMean(ratio),
    ratio_max: g.reduceMax(g.where(inMask, ratio, s(0)), [0, 1], 0),
    ratio_min: g.reduceMin(g.where(inMask, ratio, s(3.4028234663852886e38)), [0, 1], 0),
  }
  return { loss, tokenLogp, metrics }
}

/** Plain float64 reference of addGrpoLoss for one batch: logits [B][L][V], the rest [B][L]. */
export function grpoLossReference(
  logits: number[][][],
  x: { targets: number[][]; lossWeights: number[][]; tokenWeights: number[][]; adv: number[][]; old: number[][]; ref: number[][] },
  options: GrpoLossOptions,
) {
  let pg = 0, kl = 0, ent = 0, nll = 0, clipFrac = 0, clipLower = 0, ppoKl = 0, ratioSum = 0
  let ratioMax = 0, ratioMin = 3.4028234663852886e38
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi)
  logits.forEach((row, b) => row.forEach((z, i) => {
    const [w, t] = [x.lossWeights[b][i], x.tokenWeights[b][i]]
    const top = Math.max(...z)
    const logZ = top + Math.log(z.reduce((s, v) => s + Math.exp(v - top), 0))
    const logp = z[x.targets[b][i]] - logZ
    const a = x.adv[b][i]
    const nk = clamp(logp - x.old[b][i], -20, 20)
    const ratio = Math.exp(nk)
    const l1 = -a * ratio
    const l2 = -a * clamp(ratio, 1 - options.clipLow, 1 + options.clipHigh)
    const c1 = Math.max(l1, l2)
    const l3 = -a * options.dualClip
    const loss = a < 0 ? Math.min(l3, c1) : c1
    const d = clamp(x.ref[b][i] - logp, -20, 20)
    pg += w * loss
    kl += w * clamp(Math.exp(d) - d - 1, -10, 10)
    ent += w * -z.reduce((s, v) => s + Math.exp(v - logZ) * (v - logZ), 0)
    nll += w * -logp
    clipFrac += t * (l2 > l1 ? 1 : 0)
    clipLower += t * (c1 > l3 && a < 0 ? 1 : 0)
    ppoKl += t * -nk
    ratioSum += t * ratio
    if (t > 0) { ratioMax = Math.max(ratioMax, ratio); ratioMin = Math.min(ratioMin, ratio) }
  }))
  const metrics = {
    pg_loss: pg, kl, entropy: ent, nll, clip_frac: clipFrac, clip_frac_lower: clipLower,
    ppo_kl: ppoKl, ratio_mean: ratioSum, ratio_max: ratioMax, ratio_min: ratioMin,
  }
  const loss = options.objective === 'sft' ? metrics.nll : metrics.pg_loss + options.klCoef * metrics.kl - options.entropyCoef * metrics.entropy
  return { loss, metrics }
}
