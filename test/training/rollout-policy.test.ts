// Rollouts sample from the policy being trained, with nothing exported or rebuilt: the rollout
// engine reads the trainer's LoRA factors (or, for full fine-tuning, every weight) where the
// optimizer updates them. After an update, the engine's log-probabilities of what it generates
// equal the trainer's for the same tokens, and differ from the ones before the update.
import { afterAll, describe, expect, it } from 'vitest'
import { openCheckpoint } from '../../gpu-worker/engine/checkpoint.ts'
import { Generator } from '../../gpu-worker/engine/generate.ts'
import { makeTinyCheckpoint } from '../../gpu-worker/engine/tiny.ts'
import { rolloutEngine } from '../../gpu-worker/training/grpo.ts'
import { GRPO_LOSS_DEFAULTS } from '../../gpu-worker/training/loss.ts'
import { type LoraOptions, PolicyModel, packBatch } from '../../gpu-worker/training/model.ts'
import { ADAMW_DEFAULTS, AdamW } from '../../gpu-worker/training/optim.ts'
import { optimizerStep, prepareMicroBatches } from '../../gpu-worker/training/update.ts'
import { TEST_ENGINE } from '../helpers/engine.ts'
import { removeTempDirs, tempDir } from './helpers.ts'

afterAll(removeTempDirs)

const PROMPT = [40, 41, 42, 43, 44]

describe('the rollout engine follows the trained policy in place', () => {
  for (const lora of [{ rank: 4, alpha: 8, targets: ['q', 'v', 'up', 'down'] }, undefined] as (LoraOptions | undefined)[]) {
    it(lora ? 'LoRA: its adapters are the trainer\'s arrays' : 'full fine-tuning: its weights are the trainer\'s arrays', async () => {
      const dir = tempDir()
      makeTinyCheckpoint(dir, { seed: 8, hiddenSize: 32, numHeads: 4, numKvHeads: 2, intermediateSize: 64, numLayers: 2 })
      const base = openCheckpoint(dir)
      const model = await PolicyModel.create(base.config, (n) => base.weights.read(n, 'float32'), { session: TEST_ENGINE, lora, loss: GRPO_LOSS_DEFAULTS, seed: 2 })
      const engine = await rolloutEngine(base, model, { engine: TEST_ENGINE, lora, cacheDir: tempDir() })
      try {
        const sample = async () => new Generator(engine).generate({ promptIds: PROMPT, maxNewTokens: 8, temperature: 1, seed: 5, stopTokenIds: [] })
        const trainerLogprobs = async (tokens: number[]) => {
          const batch = packBatch([{ tokens: [...PROMPT, ...tokens], promptLength: PROMPT.length, lossMask: tokens.map(() => 1) }], 0)
          return [...(await model.tokenLogprobs(batch))].slice(PROMPT.length - 1, PROMPT.length - 1 + tokens.length)
        }
        const before = await sample()
        // one real update: a GRPO step that pushes up the sampled tokens
        const micro = await prepareMicroBatches(model, [{ tokens: [...PROMPT, ...before.tokens], promptLength: PROMPT.length, lossMask: before.tokens.map(() => 1), advantage: 1 }], 1, 0, false)
        await optimizerStep(model, new AdamW({ ...ADAMW_DEFAULTS, lr: 0.05 }), micro, { kind: 'token-mean' })
        const after = await sample()
        const ours = await trainerLogprobs(after.tokens)
        after.logprobs.forEach((lp, i) => expect(Math.abs(lp - ours[i]), `token ${i}`).toBeLessThan(1e-4))
        const stale = await trainerLogprobs(before.tokens)
        // the update moved the policy the engine samples from
        expect(Math.max(...before.logprobs.map((lp, i) => Math.abs(lp - stale[i])))).toBeGreaterThan(1e-3)
      } finally {
        await engine.dispose()
        await model.dispose()
      }
    })
  }
})
