// One optimizer step over a mini-batch of sequences, split into micro-batches whose gradients add
// up: each micro-batch's loss weights are normalised over the whole mini-batch.
import type { FloatArray } from '../engine/onnx.ts'
import { type Aggregation, type LossMetric, MAX_METRICS, MIN_METRICS, lossWeights } from './loss.ts'
import { type PackedBatch, type PolicyModel, type TrainRow, packBatch } from './model.ts'
import { type AdamW, accumulate } from './optim.ts'

export interface ScoredRow extends TrainRow { advantage: number }

export interface MicroBatch {
  batch: PackedBatch
  /** One per position, the row's advantage broadcast over its tokens. */
  advantages: number[]
  oldLogprobs: FloatArray
  refLogprobs: FloatArray
}


/** Packs rows into micro-batches and records, before any update, the old and (if needed) reference logprobs. */
export async function prepareMicroBatches(model: PolicyModel, rows: ScoredRow[], size: number, padId: number, withReference: boolean): Promise<MicroBatch[]> {
  const out: MicroBatch[] = []
  for (let i = 0; i < rows.length; i += size) {
    const part = rows.slice(i, i + size)
    const batch = packBatch(part, padId)
    const oldLogprobs = await model.tokenLogprobs(batch, 'current')
    const refLogprobs = withReference ? await model.tokenLogprobs(batch, 'reference') : new Float64Array(batch.B * batch.L)
    const advantages = part.flatMap((r) => new Array<number>(batch.L).fill(r.advantage))
    out.push({ batch, advantages, oldLogprobs, refLogprobs })
  }
  return out
}

/** Micro-batches of demonstrations for the supervised objective, which reads no advantages or old/reference logprobs. */
export function demonstrationBatches(rows: TrainRow[], size: number, padId: number): MicroBatch[] {
  const out: MicroBatch[] = []
  for (let i = 0; i < rows.length; i += size) {
    const batch = packBatch(rows.slice(i, i + size), padId)
    const zeros = new Float64Array(batch.B * batch.L)
    out.push({ batch, advantages: Array.from(zeros), oldLogprobs: zeros, refLogprobs: zeros })
  }
  return out
}

export interface UpdateResult { loss: number; metrics: Record<LossMetric, number>; gradNorm: number; lr: number }

/** Accumulates the gradients of `micro` (one mini-batch) and applies one optimizer step. */
export async function optimizerStep(
  model: PolicyModel, optimizer: AdamW, micro: MicroBatch[], aggregation: Aggregation, objective: 'grpo' | 'sft' = 'grpo',
): Promise<UpdateResult> {
  const weights = lossWeights(micro.map((m) => m.batch), aggregation)
  const grads = new Map<string, Float64Array>()
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
