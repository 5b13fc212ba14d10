// The ONNX Qwen3 graph against the independent float64 TypeScript forward pass, on tiny random
// checkpoints covering GQA ratios, tied/untied embeddings, head_dim != hidden/heads, storage
// dtypes (f32, bf16, f16) and sharded weights. Prompts run as one left-padded batch, so the
// padding mask and position ids are exercised too.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { buildFromCheckpoint, exportOnnx, openCheckpoint } from '../../gpu-worker/engine/checkpoint.ts'
import { parseQwen3Config } from '../../gpu-worker/engine/qwen3.ts'
import { type TinyModelOptions, makeTinyCheckpoint } from '../../gpu-worker/engine/tiny.ts'
import { runPrompts, removeTempDirs, session, tempDir } from './helpers.ts'
import { referenceLogits, relativeError } from './reference.ts'

afterAll(removeTempDirs)

const configs: [string, TinyModelOptions][] = [
  ['GQA 2:1, tied, f32', { seed: 1 }],
  ['MHA, untied, bf16', { seed: 2, numHeads: 4, numKvHeads: 4, tieWordEmbeddings: false, dtype: 'BF16' }],
  ['GQA 4:1, head_dim 24 != 64/8, untied, f16, sharded', { seed: 3, numHeads: 8, numKvHeads: 2, headDim: 24, tieWordEmbeddings: false, dtype: 'F16', maxShardBytes: 60_000 }],
  ['MQA 4:1, head_dim 32, 3 layers, tied', { seed: 4, numHeads: 4, numKvHeads: 1, headDim: 32, numLayers: 3, intermediateSize: 96 }],
]
const prompts = [
  [1, 2, 3, 4, 5, 6, 7, 8, 9],
  [200, 17, 99, 5],
  [42],
]

describe('Qwen3 graph vs float64 reference', () => {
  for (const [name, options] of configs) {
    it(name, async () => {
      const dir = tempDir()
      makeTinyCheckpoint(join(dir, 'ckpt'), options)
      const ckpt = openCheckpoint(join(dir, 'ckpt'))
      const reference = prompts.map((p) => referenceLogits(ckpt.dir, p))

      // float32, from the exported folder (weights in external data), as served.
      const out = exportOnnx(ckpt, join(dir, 'export'), { logits: 'all' })
      const f32 = await runPrompts(await session(join(out, 'onnx', 'model.onnx')), ckpt.config, prompts)
      // float64, built in memory, unoptimised: the graph's math alone, without float32 rounding.
      const f64Model = buildFromCheckpoint(ckpt, { float: 'float64', logits: 'all' }).graph.toBytes()
      const f64 = await runPrompts(await session(f64Model, 'float64'), ckpt.config, prompts, 'float64')

      for (let p = 0; p < prompts.length; p++) {
        for (let j = 0; j < prompts[p].length; j++) {
          expect(relativeError(f32[p][j], reference[p][j])).toBeLessThan(1e-4)
          expect(relativeError(f64[p][j], reference[p][j])).toBeLessThan(1e-12)
        }
      }
    })
  }

  it('the reference and the check can fail: a perturbed weight is detected', async () => {
    const dir = tempDir()
    makeTinyCheckpoint(dir, { seed: 5 })
    const ckpt = openCheckpoint(dir)
    const reference = referenceLogits(dir, prompts[0])
    const g = buildFromCheckpoint(ckpt, { float: 'float64', logits: 'all' }).graph
    // Scale one k_norm weight by 1.01: a small change the comparison must still see.
    const w = g.weights.get('model.layers.1.self_attn.k_norm.weight')!
    const load = w.load
    w.load = () => load().map((v, i) => (i === 3 ? v * 1.01 : v))
    const [logits] = await runPrompts(await session(g.toBytes(), 'float64'), ckpt.config, [prompts[0]], 'float64')
    expect(relativeError(logits[prompts[0].length - 1], reference[prompts[0].length - 1])).toBeGreaterThan(1e-6)
  })

  it('refuses configs and checkpoints it does not implement', () => {
    const dir = tempDir()
    makeTinyCheckpoint(dir, { seed: 6, hiddenSize: 32, numHeads: 2, numKvHeads: 1 })
    const raw = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))
    expect(() => parseQwen3Config({ ...raw, model_type: 'llama' })).toThrow(/model_type/)
    expect(() => parseQwen3Config({ ...raw, rope_scaling: { rope_type: 'yarn', factor: 4 } })).toThrow(/yarn/)
    expect(() => parseQwen3Config({ ...raw, use_sliding_window: true })).toThrow(/sliding/)
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...raw, intermediate_size: 80 }))
    expect(() => openCheckpoint(dir)).toThrow(/mlp\.gate_proj\.weight has shape \[64,32\], config\.json implies \[80,32\]/)
    expect(() => openCheckpoint(tempDir())).toThrow(/config\.json/)
  })
})
