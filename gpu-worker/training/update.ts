// One optimizer step over a mini-batch of sequences, split into micro-batches whose gradients add
// up: each micro-batch's loss weights are normalised over the whole mini-batch.
import type { FloatArray } from '../engine/onnx.ts'
import { type Aggregation, type LossMetric, MAX_METRICS, MIN_METRICS, lossWeights } from './loss.ts'
import { type PackedBatch, type PolicyModel, type TrainRow, packBatch, perPosition } from './model.ts'
import { type AdamW, accumulate } from './optim.ts'

export interface ScoredRow extends TrainRow { advantage: number }

export interface MicroBatch {
  batch: PackedBatch
  /** One per position, the row's advantage broadcast over its tokens. */
  advantages: number[]
  oldLogprobs: FloatArray
  refLogprobs: FloatArray
}


/** `rows` as `parts` consecutive groups whose sizes differ by at most one (the first ones larger). */
export function splitEvenly<T>(rows: T[], parts: number): T[][] {
  if (parts < 1 || parts > rows.length) throw new Error(`cannot split ${rows.length} rows into ${parts} mini-batches`)
  const out: T[][] = []
  for (let k = 0, start = 0; k < parts; k++) {
    const size = Math.floor(rows.length / parts) + (k < rows.length % parts ? 1 : 0)
    out.push(rows.slice(start, (start += size)))
  }
  return out
}

/**
 * Rows grouped into micro-batches of at most `tokens` positions each (a micro-batch is packed into
 * one row, model.ts): longest first, each row into the first micro-batch it fits, so short rows
 * share a run; a row longer than the budget runs alone. Deterministic (ties keep the rows' order).
 */
export function tokenBudgetBatches<T extends TrainRow>(rows: T[], tokens: number): T[][] {
  const positions = (r: TrainRow) => r.tokens.length - 1
  const order = rows.map((r, i) => ({ r, i })).sort((a, b) => positions(b.r) - positions(a.r) || a.i - b.i)
  const batches: { rows: T[]; used: number }[] = []
  for (const { r } of order) {
    const fits = batches.find((b) => b.used + positions(r) <= tokens)
    if (fits) { fits.rows.push(r); fits.used += positions(r) }
    else batches.push({ rows: [r], used: positions(r) })
  }
  return batches.map((b) => b.rows)
}

/** Packs rows into micro-batches of at most `tokens` positions and records, before any update, the old and (if needed) reference logprobs. */
export async function prepareMicroBatches(model: PolicyModel, rows: ScoredRow[], tokens: number, padId: number, withReference: boolean): Promise<MicroBatch[]> {
  const out: MicroBatch[] = []
  for (const part of tokenBudgetBatches(rows, tokens)) {
    const batch = packBatch(part, padId)
    const oldLogprobs = await model.tokenLogprobs(batch, 'current')
    const refLogprobs = withReference ? await model.tokenLogprobs(batch, 'reference') : new Float64Array(batch.length)
    const advantages = perPosition(batch, part.map((r) => r.advantage))
    out.push({ batch, advantages, oldLogprobs, refLogprobs })
  }
  return out
}

/** Micro-batches of demonstrations for the supervised objective, which reads no advantages or old/reference logprobs. */
export function demonstrationBatches(rows: TrainRow[], tokens: number, padId: number): MicroBatch[] {
  return tokenBudgetBatches(rows, tokens).map((part) => {
    const batch = packBatch(part, padId)
    const zeros = new Float64Array(batch.length)
    return { batch, advantages: Array.from(zeros), oldLogprobs: zeros, refLogprobs: zeros }
  })
}

export interface UpdateResult { loss: number; metrics: Record<LossMetric, number>; gradNorm: number; lr: number }

/** Accumulates the gradients of `micro` (one mini-batch) and applies one optimizer step. */
export async function optimizerStep(
  model: PolicyModel, optimizer: AdamW, micro: MicroBatch[], aggregation: Aggregation, objective: 'grpo' | 'sft' = 'grpo',
): Promise<UpdateResult> {
  const weights = lossWeights(micro.map((m) => m.batch), aggregation)
  const grads = new Map<string, FloatArray>()
  const metrics = {} as Record<LossMetric, number>
  let loss = 0
  for (const [k, m] of micro.entries()) {
    const r = await model.gradients(m.batch, { advantages: m.advantages, oldLogprobs: m.oldLogprobs, refLogprobs: m.refLogprobs, weights: weights[k] }, objective)
    accumulate(grads, r.grads)
    loss += r.loss
    for (const [k, v] of Object.entries(r.metrics) as [LossMetric, number][]) {
      const prev = metrics[k]
      if (prev === undefined) metrics[k] = v
      else if ((MAX_METRICS as readonly string[]).includes(k)) metrics[k] = Math.max(prev, v)
      else if ((MIN_METRICS as readonly string[]).includes(k)) metrics[k] = Math.min(prev, v)
      else metrics[k] = prev + v
    }
  }
  const { gradNorm, lr } = optimizer.step(model.params, grads)
  return { loss, metrics, gradNorm, lr }
}
