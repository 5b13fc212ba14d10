// Checkpoints saved by transformers and what transformers computed with them (test/reference/qwen3.py):
// the engine must load each folder and reproduce its logits, alone and as a left-padded batch, and
// its generator must greedy-generate transformers' tokens (KV cache, continuous batching); the
// plain float64 TypeScript forward pass (test/engine/reference.ts) must agree too.
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openCheckpoint } from '../../gpu-worker/engine/checkpoint.ts'
import { Generator } from '../../gpu-worker/engine/generate.ts'
import { Engine } from '../../gpu-worker/engine/session.ts'
import { referenceLogits, relativeError } from '../engine/reference.ts'
import { engineLogits, fixture, reference, removeTempDirs, tempDir } from './helpers.ts'

afterAll(removeTempDirs)

interface Fixture { inputs: number[][]; logits: number[][][]; batch_logits: number[][][]; greedy_tokens: number[][] }
const read = (dir: string): Fixture => JSON.parse(readFileSync(join(dir, 'logits.json'), 'utf8'))
const maxError = (ours: ArrayLike<number>[][], theirs: number[][][]) => Math.max(...theirs.flatMap((rows, p) => rows.map((row, j) => relativeError(ours[p][j], row))))

describe(`transformers' Qwen3 (fixtures: ${reference().source})`, () => {
  for (const name of readdirSync(fixture('hf-qwen3')).sort()) {
    const dir = fixture('hf-qwen3', name)
    it(`${name}: logits alone and as a left-padded batch, and the float64 reference`, async () => {
      const expected = read(dir)
      const engine = await Engine.load(dir, { cacheDir: tempDir(), threads: 1, logits: 'all' })
      try {
        const alone = await Promise.all(expected.inputs.map(async (ids) => (await engineLogits(engine, [ids]))[0]))
        // measured: 6.5e-7 to 8.9e-7 (float32 against transformers' float64)
        expect(maxError(alone, expected.logits)).toBeLessThan(1e-5)
        expect(maxError(await engineLogits(engine, expected.inputs), expected.batch_logits)).toBeLessThan(1e-5)
      } finally {
        await engine.dispose()
      }
      // transformers rounds the rotary frequencies to float32 even in a float64 model, as the reference does
      expect(maxError(expected.inputs.map((ids) => referenceLogits(dir, ids)), expected.logits)).toBeLessThan(1e-6)
    })

    it(`${name}: greedy generation gives transformers' tokens`, async () => {
      const expected = read(dir)
      const engine = await Engine.load(dir, { cacheDir: tempDir(), threads: 1 })
      try {
        const generator = new Generator(engine, { maxBatch: 2 })
        const results = await Promise.all(expected.inputs.map((promptIds) => generator.generate({
          promptIds, maxNewTokens: expected.greedy_tokens[0].length, temperature: 0, stopTokenIds: [],
        })))
        expect(results.map((r) => r.tokens)).toEqual(expected.greedy_tokens)
      } finally {
        await engine.dispose()
      }
    })
  }

  it('the comparison fails on a real difference: one norm weight 1% off', async () => {
    const dir = fixture('hf-qwen3', 'gqa2-tied-f32')
    const expected = read(dir)
    const ckpt = openCheckpoint(dir)
    const read0 = ckpt.weights.read.bind(ckpt.weights)
    ckpt.weights.read = (name, as) => {
      const w = read0(name, as)
      if (name === 'model.layers.1.self_attn.k_norm.weight') w[3] *= 1.01
      return w
    }
    const perturbed = await Engine.fromCheckpoint(ckpt, { cacheDir: tempDir(), threads: 1, logits: 'all' })
    try {
      expect(maxError([(await engineLogits(perturbed, [expected.inputs[0]]))[0]], [expected.logits[0]])).toBeGreaterThan(1e-4)
    } finally {
      await perturbed.dispose()
    }
  })
})
