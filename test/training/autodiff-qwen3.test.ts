// The whole Qwen3 forward, differentiated: every weight's gradient of a random linear functional of
// the logits against central differences in float64, on tiny configs (tied and untied head,
// grouped-query attention, a left-padded row so the attention mask is exercised).
import { afterAll, describe, expect, it } from 'vitest'
import * as ort from 'onnxruntime-node'
import { buildQwen3, qwen3WeightShapes } from '../../gpu-worker/engine/qwen3.ts'
import { SafetensorsFolder } from '../../gpu-worker/engine/safetensors.ts'
import { makeTinyCheckpoint } from '../../gpu-worker/engine/tiny.ts'
import { grad } from '../../gpu-worker/training/autodiff.ts'
import { f64, finiteDifferences, normals, relativeError, removeTempDirs, session, tempDir } from './helpers.ts'

afterAll(removeTempDirs)

const int64 = (values: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(values, BigInt), dims)

describe('Qwen3 forward gradient vs finite differences (float64)', () => {
  for (const tie of [true, false]) {
    it(`every weight, tie_word_embeddings=${tie}`, async () => {
      const dir = tempDir()
      const c = makeTinyCheckpoint(dir, { seed: 3, hiddenSize: 16, numHeads: 4, numKvHeads: 2, headDim: 8, intermediateSize: 24, numLayers: 2, tieWordEmbeddings: tie })
      const st = new SafetensorsFolder(dir)
      const g = buildQwen3(c, (name) => st.read(name, 'float64'), { float: 'float64', logits: 'all', weightsAsInputs: true }).graph
      const names = [...qwen3WeightShapes(c).keys()]
      const initial = new Map(names.map((name) => [name, st.read(name, 'float64')]))
      const r = g.input('r', 'float64', ['batch_size', 'sequence_length', c.vocabSize])
      const loss = g.reduceSum(g.mul('logits', r), [0, 1, 2], 0)
      const grads = grad(g, loss, names)
      g.output('loss', loss, 'float64', [])
      for (const name of names) g.output(`grad.${name}`, grads.get(name)!, 'float64', [...g.inputs.find((i) => i.name === name)!.shape])
      const s = await session(g)

      const [B, S] = [2, 5]
      const feeds: Record<string, ort.Tensor> = {
        input_ids: int64([5, 77, 200, 13, 13, 0, 0, 281, 9, 40], [B, S]),
        attention_mask: int64([1, 1, 1, 1, 1, 0, 0, 1, 1, 1], [B, S]),
        position_ids: int64([0, 1, 2, 3, 4, 0, 0, 0, 1, 2], [B, S]),
        r: f64(normals(B * S * c.vocabSize, 11), [B, S, c.vocabSize]),
      }
      for (let i = 0; i < c.numLayers; i++) for (const kv of ['key', 'value']) feeds[`past_key_values.${i}.${kv}`] = f64(new Float64Array(0), [B, c.numKvHeads, 0, c.headDim])
      for (const [name, v] of initial) feeds[name] = f64(v as Float64Array, [...g.inputs.find((i) => i.name === name)!.shape] as number[])
      const out = await s.run(feeds)
      const lossOf = async (f: Record<string, ort.Tensor>) => (await s.run(f)).loss.data[0] as number
      const errors: Record<string, number> = {}
      for (const [k, name] of names.entries()) {
        const analytic = out[`grad.${name}`].data as Float64Array
        const [numeric, exact] = await finiteDifferences(lossOf, feeds, name, analytic, { directions: 2, seed: k })
        errors[name] = relativeError(exact, numeric)
        expect(Math.max(...analytic.map(Math.abs)), name).toBeGreaterThan(1e-6)
      }
      expect(Math.max(...Object.values(errors)), JSON.stringify(errors)).toBeLessThan(1e-6)
    })
  }
})
