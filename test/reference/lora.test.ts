// LoRA as PEFT does it (test/reference/lora.py): a PEFT adapter (rank 4, alpha 16, all seven
// projections, random A and B) loads into the trainer's model; the project's merged export equals
// PEFT's merge_and_unload weights and gives PEFT's logits in the engine; and the project's own
// adapter export loads in PEFT (live) and gives the same logits.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openCheckpoint } from '../../gpu-worker/engine/checkpoint.ts'
import { SafetensorsFolder } from '../../gpu-worker/engine/safetensors.ts'
import { Engine } from '../../gpu-worker/engine/session.ts'
import { GRPO_LOSS_DEFAULTS } from '../../gpu-worker/training/loss.ts'
import { LORA_TARGETS, type LoraTarget } from '../../gpu-worker/engine/qwen3.ts'
import { type LoraOptions, PolicyModel } from '../../gpu-worker/training/model.ts'
import { loadAdapter, writeAdapter, writeMergedModel } from '../../gpu-worker/training/state.ts'
import { relativeError } from '../engine/reference.ts'
import { engineLogits, fixture, live, liveLogits, liveSkipReason, reference, removeTempDirs, tempDir } from './helpers.ts'
import { TEST_ENGINE } from '../helpers/engine.ts'

afterAll(removeTempDirs)

const expected = () => JSON.parse(readFileSync(fixture('lora', 'logits.json'), 'utf8')) as { inputs: number[][]; logits: number[][][]; rank: number; alpha: number }
const LORA = (): LoraOptions => ({ rank: expected().rank, alpha: expected().alpha, targets: Object.keys(LORA_TARGETS) as LoraTarget[] })

async function peftModel() {
  const base = openCheckpoint(fixture('lora', 'base'))
  const model = await PolicyModel.create(base.config, (name) => base.weights.read(name, 'float32'), { session: TEST_ENGINE, lora: LORA(), loss: GRPO_LOSS_DEFAULTS })
  loadAdapter(model, fixture('lora', 'adapter'))
  return { base, model }
}

/** The largest relative error over every tensor of two safetensors sets (by name). */
function maxTensorError(ours: SafetensorsFolder, theirs: SafetensorsFolder): number {
  expect([...ours.tensors.keys()].sort()).toEqual([...theirs.tensors.keys()].sort())
  return Math.max(...[...theirs.tensors.keys()].map((name) => relativeError(ours.read(name), theirs.read(name))))
}

const maxError = (ours: ArrayLike<number>[][], theirs: number[][][]) => Math.max(...theirs.flatMap((rows, p) => rows.map((row, j) => relativeError(ours[p][j], row))))

describe(`LoRA against PEFT (fixtures: ${reference().source})`, () => {
  it("a PEFT adapter loads; the merged export equals PEFT's merge_and_unload and gives PEFT's logits", async () => {
    const { base, model } = await peftModel()
    try {
      const out = writeMergedModel(base, model, tempDir())
      const peftMerged = new SafetensorsFolder(fixture('lora'), 'merged.safetensors')
      const weights = maxTensorError(new SafetensorsFolder(out), peftMerged)
      expect(weights).toBeLessThan(1e-6)
      const engine = await Engine.load(out, { cacheDir: tempDir(), threads: 1, logits: 'all' })
      try {
        const logits = maxError(await engineLogits(engine, expected().inputs), expected().logits)
        console.log(`LoRA vs PEFT: merged weights ${weights.toExponential(2)}, logits ${logits.toExponential(2)} (largest relative errors)`)
        expect(logits).toBeLessThan(1e-5)
      } finally {
        await engine.dispose()
      }
    } finally {
      await model.dispose()
    }
  })

  it('refuses an adapter whose scaling differs from the model', async () => {
    const base = openCheckpoint(fixture('lora', 'base'))
    const model = await PolicyModel.create(base.config, (name) => base.weights.read(name, 'float32'), { session: TEST_ENGINE, lora: { ...LORA(), alpha: 2 * LORA().alpha }, loss: GRPO_LOSS_DEFAULTS })
    try {
      expect(() => loadAdapter(model, fixture('lora', 'adapter'))).toThrow(/lora_alpha 16 \(scaling 4\); the model has rank 4, scaling 8/)
    } finally {
      await model.dispose()
    }
  })

  it('the comparison fails on a real difference: one adapter factor 1% off', async () => {
    const { base, model } = await peftModel()
    try {
      model.params.get(model.adapters[3].a)![5] *= 1.01
      const out = writeMergedModel(base, model, tempDir())
      expect(maxTensorError(new SafetensorsFolder(out), new SafetensorsFolder(fixture('lora'), 'merged.safetensors'))).toBeGreaterThan(1e-4)
    } finally {
      await model.dispose()
    }
  })

  const skip = liveSkipReason('the project\'s adapter export loaded by PEFT')
  it.skipIf(skip !== null)("the project's adapter export loads in PEFT and gives the same logits (live)", async () => {
    const { model } = await peftModel()
    try {
      const adapter = writeAdapter(model, LORA(), fixture('lora', 'base'), join(tempDir(), 'adapter'))
      const out = join(tempDir(), 'logits.safetensors')
      const [answer] = await live([{ kind: 'peft-logits', base: fixture('lora', 'base'), adapter, inputs: expected().inputs, out }])
      const error = maxError(liveLogits(answer.logits, expected().inputs), expected().logits)
      console.log(`our adapter export in PEFT: largest relative logit error ${error.toExponential(2)}`)
      expect(error).toBeLessThan(1e-9)
    } finally {
      await model.dispose()
    }
  })
})
