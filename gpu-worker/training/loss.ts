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

/** Metrics that add up over micro-batches (each is already normalised over the mini-batch); entropy only with an entropy coefficient. */
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
 * The weights of every position of each micro-batch (sequences packed in one row: `spans` are each
 * sequence's positions), normalised over the whole mini-batch they form. A sequence without mask-1
 * tokens counts as a sequence with a zero loss (as TRL clamps its token count to 1).
 */
export function lossWeights(batches: { lossMask: number[]; spans: { start: number; length: number }[] }[], aggregation: Aggregation): TokenWeights[] {
  const tokens = Math.max(1, batches.reduce((s, b) => s + b.lossMask.reduce((a, m) => a + m, 0), 0))
  const sequences = batches.reduce((s, b) => s + b.spans.length, 0)
  return batches.map(({ lossMask, spans }) => {
    const loss = new Float64Array(lossMask.length)
    const token = Float64Array.from(lossMask, (m) => m / tokens)
    for (const { start, length } of spans) {
      const mask = lossMask.slice(start, start + length)
      const norm = aggregation.kind === 'token-mean' ? tokens
        : aggregation.kind === 'seq-mean-token-mean' ? Math.max(1, mask.reduce((a, m) => a + m, 0)) * sequences
        : sequences * aggregation.normLength
      mask.forEach((m, i) => (loss[start + i] = m / norm))
    }
    return { loss, token }
  })
}

/**
 * Token log-probabilities [N] of `targets` [N] under `logits` [N, V]: the target's logit (a gather)
 * minus the log-sum-exp over the vocabulary, with no [N, V] log-softmax or one-hot; and the
 * entropy [N] = logZ - sum(softmax * logits) when asked (one more [N, V] pass).
 */
export function tokenLogprobs(g: Graph, logits: string, targets: string, withEntropy = false): { tokenLogp: string; entropy: string | null } {
  const logZ = g.reduceLogSumExp(logits, [1], 0) // [N]
  const picked = g.reshape(g.gatherElements(logits, g.unsqueeze(targets, [1]), 1), g.ints([-1])) // [N]
  const entropy = withEntropy ? g.sub(logZ, g.reduceSum(g.mul(g.softmax(logits, 1), logits), [1], 0)) : null
  return { tokenLogp: g.sub(picked, logZ), entropy }
}

/**
 * The LM head and tokenLogprobs over the final hidden states `hidden` [L, hidden], in chunks of
 * `chunk` positions (logits [C, V] each). Each chunk is a recomputation segment (autodiff.ts), so
 * a train step can make its logits again in the backward, one chunk at a time: then no [L, V]
 * tensor ever exists. Returns the [L] values and the segments.
 */
export function chunkedTokenLogprobs(g: Graph, hidden: string, headWeight: string, targets: string, length: number, chunk: number, withEntropy: boolean) {
  const slice = (x: string, from: number, to: number) => g.slice(x, g.ints([from]), g.ints([to]), g.ints([0]))
  const parts = Array.from({ length: Math.ceil(length / chunk) }, (_, k) => {
    const [from, to] = [k * chunk, Math.min(length, (k + 1) * chunk)]
    const values = tokenLogprobs(g, g.linear(slice(hidden, from, to), headWeight), slice(targets, from, to), withEntropy)
    return { ...values, segment: { input: hidden, outputs: values.entropy ? [values.tokenLogp, values.entropy] : [values.tokenLogp] } }
  })
  return {
    tokenLogp: g.concat(parts.map((p) => p.tokenLogp), 0), // [L]
    entropy: withEntropy ? g.concat(parts.map((p) => p.entropy!), 0) : null,
    segments: parts.map((p) => p.segment),
  }
}

/**
 * Adds the loss inputs ([L] each: loss and token weights, advantages, old and reference logprobs)
 * and nodes over the token logprobs [L] (and the entropy [L], given when it is trained on); returns
 * the scalar loss and the metrics.
 */
export function addGrpoLoss(g: Graph, values: { tokenLogp: string; entropy: string | null; length: number }, options: GrpoLossOptions) {
  const rows = [values.length]
  const lossWeights = g.input('loss_weights', g.float, rows)
  const tokenWeights = g.input('token_weights', g.float, rows)
  const adv = g.input('advantages', g.float, rows)
  const old = g.input('old_logprobs', g.float, rows)
  const ref = g.input('ref_logprobs', g.float, rows)
  const agg = (x: string) => g.reduceSum(g.mul(x, lossWeights), [0], 0)
  const tokenMean = (x: string) => g.reduceSum(g.mul(x, tokenWeights), [0], 0)
  const s = (v: number) => g.scalar(v)
  const { tokenLogp } = values

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
  if (!!options.entropyCoef !== !!values.entropy) throw new Error('the entropy is given exactly when its coefficient is not 0')
  const entropyLoss = values.entropy ? agg(values.entropy) : null
  const nll = agg(g.neg(tokenLogp))
  let loss: string
  if (options.objective === 'sft') loss = nll
  else {
    loss = pgLoss
    if (options.klCoef) loss = g.add(loss, g.mul(klLoss, s(options.klCoef)))
    if (entropyLoss) loss = g.sub(loss, g.mul(entropyLoss, s(options.entropyCoef)))
  }
  const flag = (b: string) => g.cast(b, g.float)
  const inMask = g.greater(tokenWeights, s(0))
  const metrics: Partial<Record<LossMetric, string>> = {
    pg_loss: pgLoss, kl: klLoss, ...(entropyLoss ? { entropy: entropyLoss } : {}), nll,
    clip_frac: tokenMean(flag(g.greater(pg2, pg1))),
    clip_frac_lower: tokenMean(g.mul(flag(g.greater(clipped, pg3)), flag(negative))),
    ppo_kl: tokenMean(g.neg(negApproxKl)),
    ratio_mean: tokenMean(ratio),
    ratio_max: g.reduceMax(g.where(inMask, ratio, s(0)), [0], 0),
    ratio_min: g.reduceMin(g.where(inMask, ratio, s(3.4028234663852886e38)), [0], 0),
  }
  return { loss, metrics }
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
  const metrics: Partial<Record<LossMetric, number>> = {
    pg_loss: pg, kl, ...(options.entropyCoef ? { entropy: ent } : {}), nll, clip_frac: clipFrac, clip_frac_lower: clipLower,
    ppo_kl: ppoKl, ratio_mean: ratioSum, ratio_max: ratioMax, ratio_min: ratioMin,
  }
  const loss = options.objective === 'sft' ? nll : pg + options.klCoef * kl - options.entropyCoef * ent
  return { loss, metrics }
}
