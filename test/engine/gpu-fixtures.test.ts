// Checkpoints made by Hugging Face transformers itself (test/gpu/make_fixtures.py, run on a
// machine with PyTorch) and the logits transformers computed for them: our engine must load each
// folder and reproduce them. Without fixtures this says so and checks nothing else.
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { exportOnnx, openCheckpoint } from '../../gpu-worker/engine/checkpoint.ts'
import { removeTempDirs, runPrompts, session, tempDir } from './helpers.ts'
import { referenceLogits, relativeError } from './reference.ts'

afterAll(removeTempDirs)

const root = join(import.meta.dirname, '..', 'gpu', 'fixtures')
const fixtures = existsSync(root) ? readdirSync(root).filter((name) => existsSync(join(root, name, 'logits.json'))) : []

describe('transformers fixtures (test/gpu)', () => {
  if (fixtures.length === 0) {
    it('has no fixture yet', () => {
      console.warn(`NO FIXTURE: ${root} holds no transformers checkpoint; see test/gpu/README.md to make them on a machine with PyTorch.`)
      expect(existsSync(join(import.meta.dirname, '..', 'gpu', 'make_fixtures.py'))).toBe(true)
    })
  }
  for (const name of fixtures) {
    it(`${name}: our engine and the float64 reference reproduce transformers' logits`, async () => {
      const dir = join(root, name)
      const { inputs, logits } = JSON.parse(readFileSync(join(dir, 'logits.json'), 'utf8')) as { inputs: number[][]; logits: number[][][] }
      const ckpt = openCheckpoint(dir)
      const out = exportOnnx(ckpt, tempDir(), { logits: 'all' })
      const ours = await runPrompts(await session(join(out, 'onnx', 'model.onnx')), ckpt.config, inputs)
      inputs.forEach((ids, p) => {
        const reference = referenceLogits(dir, ids)
        ids.forEach((_, j) => {
          expect(relativeError(ours[p][j], logits[p][j])).toBeLessThan(1e-4)
          // transformers computes rotary cos/sin in float32 even in a float64 model
          expect(relativeError(reference[j], logits[p][j])).toBeLessThan(1e-6)
        })
      })
    })
  }
})
