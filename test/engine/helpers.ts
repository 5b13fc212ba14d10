// Shared pieces of the engine tests: temporary folders and running a Qwen3 graph on left-padded prompts.
import * as ort from 'onnxruntime-node'
import type { Qwen3Config } from '../../gpu-worker/engine/qwen3.ts'

export { removeTempDirs, tempDir } from '../helpers/temp.ts'

export async function session(model: string | Uint8Array, float: 'float32' | 'float64' = 'float32') {
  // float64 sessions run unoptimised: the CPU fusions are float-only or round constants to float32.
  const options: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: float === 'float64' ? 'disabled' : 'all',
  }
  return typeof model === 'string' ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options)
}

/** Runs prompts as one left-padded batch with an empty cache; returns logits per prompt, [len][V] (real positions only). */
export async function runPrompts(s: ort.InferenceSession, c: Qwen3Config, prompts: number[][], float: 'float32' | 'float64' = 'float32') {
  const B = prompts.length
  const L = Math.max(...prompts.map((p) => p.length))
  const ids: bigint[] = [], mask: bigint[] = [], pos: bigint[] = []
  for (const p of prompts) {
    const pad = L - p.length
    for (let j = 0; j < L; j++) {
      ids.push(BigInt(j < pad ? 0 : p[j - pad]))
      mask.push(j < pad ? 0n : 1n)
      pos.push(BigInt(j < pad ? 1 : j - pad))
    }
  }
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids), [B, L]),
    attention_mask: new ort.Tensor('int64', BigInt64Array.from(mask), [B, L]),
    position_ids: new ort.Tensor('int64', BigInt64Array.from(pos), [B, L]),
  }
  const empty = float === 'float32' ? new Float32Array(0) : new Float64Array(0)
  for (let i = 0; i < c.numLayers; i++) {
    for (const kv of ['key', 'value']) feeds[`past_key_values.${i}.${kv}`] = new ort.Tensor(float, empty, [B, c.numKvHeads, 0, c.headDim])
  }
  const logits = (await s.run(feeds)).logits.data as Float32Array | Float64Array
  const V = c.vocabSize
  return prompts.map((p, b) =>
    p.map((_, j) => {
      const row = b * L + (L - p.length) + j
      return logits.subarray(row * V, (row + 1) * V)
    }),
  )
}
