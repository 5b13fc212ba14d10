// The engine at the size it is used at, against transformers (live: test/reference/qwen3.py makes
// the checkpoint in the run, 1.2 GB): the Qwen3-0.6B config with random weights stored in bf16 by
// transformers, the logits of a short left-padded batch at every real position, and greedy tokens
// from transformers' generate (KV cache) against the engine's generator.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SafetensorsFolder } from '../../gpu-worker/engine/safetensors.ts'
import { Generator } from '../../gpu-worker/engine/generate.ts'
import { Engine } from '../../gpu-worker/engine/session.ts'
import { makeFixtures, scriptsKey } from '../setup/reference.ts'
import { relativeError } from '../engine/reference.ts'
import { engineLogits, liveSkipReason, reference, removeTempDirs, tempDir } from './helpers.ts'

afterAll(removeTempDirs)

const skip = liveSkipReason('the Qwen3-0.6B-geometry checkpoint made by transformers')
let dir: string
beforeAll(() => {
  if (!skip) dir = join(makeFixtures(reference().python!, `${scriptsKey()}-0.6b`, ['--real-geometry']), 'qwen3-0.6b')
}, 900_000)

const expected = () => JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as { inputs: number[][]; greedy_tokens: number[][] }

describe.skipIf(skip !== null)('Qwen3-0.6B geometry against transformers (live)', () => {
  it('logits of a left-padded batch at every real position', async () => {
    const { inputs } = expected()
    const engine = await Engine.load(dir, { cacheDir: tempDir(), threads: 2, logits: 'all' })
    try {
      const ours = await engineLogits(engine, inputs)
      const theirs = new SafetensorsFolder(dir, 'reference_logits.safetensors')
      const V = engine.config.vocabSize
      const errors = inputs.flatMap((ids, b) => {
        const rows = theirs.read(`row${b}`)
        return ids.map((_, j) => relativeError(ours[b][j], rows.subarray(j * V, (j + 1) * V)))
      })
      console.log(`Qwen3-0.6B geometry: largest relative logit error ${Math.max(...errors).toExponential(2)} over ${errors.length} positions`)
      expect(Math.max(...errors)).toBeLessThan(1e-4)
    } finally {
      await engine.dispose()
    }
  }, 600_000)

  it("greedy tokens of the generator equal transformers' generate", async () => {
    const { inputs, greedy_tokens } = expected()
    const engine = await Engine.load(dir, { cacheDir: tempDir(), threads: 2 })
    try {
      const generator = new Generator(engine, { maxBatch: 2 })
      const results = await Promise.all(inputs.map((promptIds) => generator.generate({ promptIds, maxNewTokens: greedy_tokens[0].length, temperature: 0, stopTokenIds: [] })))
      expect(results.map((r) => r.tokens)).toEqual(greedy_tokens)
    } finally {
      await engine.dispose()
    }
  }, 600_000)
})
