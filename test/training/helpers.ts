// Shared pieces of the training tests: float64 sessions, seeded values, temporary folders, and the
// finite-difference gradient check.
import * as ort from 'onnxruntime-node'
import type { Graph } from '../../gpu-worker/engine/onnx.ts'
import { seededRandom } from '../../gpu-worker/engine/sampling.ts'
import { lossWeights } from '../../gpu-worker/training/loss.ts'
import { type PolicyModel, packBatch, perPosition } from '../../gpu-worker/training/model.ts'

export { removeTempDirs, tempDir } from '../helpers/temp.ts'

/** A session for a graph; float64 runs unoptimised (the CPU fusions are float-only or round constants to float32). */
export function session(g: Graph) {
  return ort.InferenceSession.create(g.toBytes(), {
    intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: g.float === 'float64' ? 'disabled' : 'all',
  })
}

export function normals(n: number, seed: number, scale = 1): Float64Array {
  const random = seededRandom(seed)
  return Float64Array.from({ length: n }, () => scale * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()))
}

export const f64 = (data: Float64Array, dims: number[]) => new ort.Tensor('float64', data, dims)

/** max |a - b| / max(max |b|, tiny): one relative error for a whole gradient. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0, scale = 1e-12
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]))
    scale = Math.max(scale, Math.abs(b[i]))
  }
  return diff / scale
}

/**
 * Central differences of `loss(feeds)` along each coordinate of `name` (or along `directions`
 * random unit directions when the tensor is big), compared with the analytic gradient.
 * Returns [numerical, analytic] projections.
 */
export async function finiteDifferences(
  loss: (feeds: Record<string, ort.Tensor>) => Promise<number>,
  feeds: Record<string, ort.Tensor>, name: string, analytic: Float64Array, options: { h?: number; directions?: number; seed?: number } = {},
): Promise<[number[], number[]]> {
  const h = options.h ?? 1e-5
  const base = feeds[name].data as Float64Array
  const n = base.length
  const dirs: Float64Array[] = options.directions
    ? Array.from({ length: options.directions }, (_, k) => normals(n, (options.seed ?? 0) * 1000 + k))
    : Array.from({ length: n }, (_, i) => Float64Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)))
  const numeric: number[] = [], exact: number[] = []
  for (const u of dirs) {
    const at = async (t: number) => loss({ ...feeds, [name]: f64(base.map((v, i) => v + t * u[i]), feeds[name].dims as number[]) })
    numeric.push(((await at(h)) - (await at(-h))) / (2 * h))
    exact.push(u.reduce((s, ui, i) => s + ui * analytic[i], 0))
  }
  return [numeric, exact]
}

/**
 * Two rows of a rollout, packed, with seeded old and reference logprobs and advantages (one group
 * of two with opposite signs): the inputs of the GRPO loss on a tiny model.
 */
export function rolloutBatch(rows: { tokens: number[]; promptLength: number; lossMask: number[] }[], seed: number) {
  const batch = packBatch(rows, 0)
  const n = batch.length
  const noise = normals(2 * n, seed)
  const x: Parameters<PolicyModel['gradients']>[1] = {
    advantages: perPosition(batch, rows.map((_, k) => (k === 0 ? 1.3 : -0.7))),
    oldLogprobs: Array.from({ length: n }, (_, k) => -5.6 + 0.3 * noise[k]),
    refLogprobs: Array.from({ length: n }, (_, k) => -5.6 + 0.3 * noise[n + k]),
    weights: lossWeights([batch], { kind: 'token-mean' })[0],
  }
  return { batch, x }
}
