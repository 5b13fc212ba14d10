// The engine at the size it is used at: the Qwen3-0.6B preset (28 layers, vocab 151936, bf16 on
// disk, 2.4 GB as fp32 in memory) loads, and the in-place cache path of the generator, with rows
// joining and leaving its batch, gives the greedy tokens of a plain step-by-step reference: the
// Hugging Face-layout graph (concatenated cache, explicit attention) run by onnxruntime-node, one
// sequence at a time, the whole cache passed in and out at every token.
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exportOnnx, openCheckpoint } from '../../gpu-worker/engine/checkpoint.ts'
import { Generator } from '../../gpu-worker/engine/generate.ts'
import { Engine } from '../../gpu-worker/engine/session.ts'
import { makeTinyCheckpoint, presetOptions } from '../../gpu-worker/engine/tiny.ts'
import { removeTempDirs, tempDir } from './helpers.ts'

let dir: string
beforeAll(() => {
  dir = tempDir()
  makeTinyCheckpoint(dir, presetOptions('qwen3-0.6b', 3))
}, 300_000)
afterAll(removeTempDirs)

const prompts = [[151644, 872, 198, 15191, 6139], [9707, 11, 1879, 0, 3555, 374, 220, 17, 10, 17, 30, 151645], [785, 6722, 315]]
const lengths = [6, 10, 4]

/** Greedy decoding with the concatenated-cache graph, one sequence at a time. */
async function stepByStep(session: ort.InferenceSession, prompt: number[], steps: number): Promise<number[]> {
  const { numLayers, numKvHeads: KV, headDim: D, vocabSize: V } = openCheckpoint(dir).config
  const int64 = (v: number[]) => new ort.Tensor('int64', BigInt64Array.from(v, BigInt), [1, v.length])
  {
    let past: ort.Tensor[] = Array.from({ length: 2 * numLayers }, () => new ort.Tensor('float32', new Float32Array(0), [1, KV, 0, D]))
    let ids = prompt
    const out: number[] = []
    for (let step = 0; step < steps; step++) {
      const position = out.length ? prompt.length + out.length - 1 : 0
      const feeds: Record<string, ort.Tensor> = {
        input_ids: int64(ids), attention_mask: int64(new Array(position + ids.length).fill(1)),
        position_ids: int64(ids.map((_, i) => position + i)),
      }
      past.forEach((t, k) => (feeds[`past_key_values.${k >> 1}.${k & 1 ? 'value' : 'key'}`] = t))
      const result = await session.run(feeds)
      const logits = result.logits.data as Float32Array
      let best = 0
      for (let v = 1; v < V; v++) if (logits[v] > logits[best]) best = v
      out.push(best)
      ids = [best]
      past = past.map((_, k) => result[`present.${k >> 1}.${k & 1 ? 'value' : 'key'}`])
    }
    return out
  }
}

describe('Qwen3-0.6B geometry', () => {
  it('the in-place cache with rows joining and leaving gives the greedy tokens of the plain step-by-step path', async () => {
    const engine = await Engine.load(dir, { threads: 2, cacheDir: tempDir() })
    let ours: number[][]
    try {
      const generator = new Generator(engine, { maxBatch: 2 })
      ours = (await Promise.all(prompts.map((promptIds, i) => generator.generate({ promptIds, maxNewTokens: lengths[i], temperature: 0, stopTokenIds: [] })))).map((r) => r.tokens)
    } finally {
      await engine.dispose()
    }
    const model = exportOnnx(openCheckpoint(dir), tempDir(), { logits: 'last' })
    const session = await ort.InferenceSession.create(join(model, 'onnx', 'model.onnx'), { intraOpNumThreads: 2 })
    const reference: number[][] = []
    try {
      for (const [i, prompt] of prompts.entries()) reference.push(await stepByStep(session, prompt, lengths[i]))
    } finally {
      await session.release()
    }
    expect(ours).toEqual(reference)
  }, 900_000)
})
