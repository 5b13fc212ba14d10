// Training at the size it is used at: on the Qwen3-0.6B preset (28 layers, vocab 151936, bf16 on
// disk, 2.4 GB as fp32), one LoRA GRPO step on two short episodes of the real protocol, a
// checkpoint, a resume that restores the adapters and the optimizer exactly, and the merged export:
// sharded, bf16 as the base, loaded by the engine, whose logits at every position of a sequence are
// the base-plus-adapter engine's up to bf16 rounding (and far from the base model's).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { existsSync, readdirSync } from 'node:fs'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import type { DatasetRow } from '../../datasets/read.ts'
import { TRAINING_OPTIONS } from '../../shared/protocol/options.ts'
import { userContentForQuestion } from '../../shared/protocol/template.ts'
import { ChatTokenizer } from '../../shared/protocol/tokenizer.ts'
import { type Checkpoint, openCheckpoint } from '../../gpu-worker/engine/checkpoint.ts'
import { Engine } from '../../gpu-worker/engine/session.ts'
import { SafetensorsFolder } from '../../gpu-worker/engine/safetensors.ts'
import { makeTinyCheckpoint, presetOptions } from '../../gpu-worker/engine/tiny.ts'
import { type GrpoInput, GrpoTrainer } from '../../gpu-worker/training/grpo.ts'
import { GRPO_LOSS_DEFAULTS } from '../../gpu-worker/training/loss.ts'
import { ADAMW_DEFAULTS } from '../../gpu-worker/training/optim.ts'
import { writeMergedModel } from '../../gpu-worker/training/state.ts'
import { TEST_ENGINE } from '../helpers/engine.ts'
import { removeTempDirs, tempDir } from './helpers.ts'

let base: Checkpoint
let played = 0
let input: Omit<GrpoInput, 'checkpoints'>
beforeAll(async () => {
  const dir = tempDir()
  makeTinyCheckpoint(dir, presetOptions('qwen3-0.6b', 4))
  base = openCheckpoint(dir)
  const data: DatasetRow[] = [{ index: 0, dataSource: 'qa', question: 'Who wrote Dune?', content: userContentForQuestion('Who wrote Dune?'), golds: ['Frank Herbert'] }]
  input = {
    base, tokenizer: await ChatTokenizer.fromFolder(dir), data, workDir: tempDir(),
    environment: { complete: async () => ({ content: 'Frank Herbert wrote it.', usage: { promptTokens: 9, completionTokens: 5 } }) },
    reward: () => (played++ % 2), // the two episodes of a step get advantages of both signs
    options: {
      steps: 1, groupSize: 2, promptsPerStep: 1, updatesPerStep: 1, microBatchTokens: 8192,
      loss: GRPO_LOSS_DEFAULTS, optimizer: { ...ADAMW_DEFAULTS, lr: 1e-3 }, aggregation: { kind: 'token-mean' }, scaleByStd: false,
      protocol: { ...TRAINING_OPTIONS, maxTurns: 2, maxNewTokensPerTurn: 6 }, environmentErrorLimit: 0.5,
      lora: { rank: 8, alpha: 16, targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] },
      seed: 3, engine: TEST_ENGINE, checkpointEvery: 1, validationEvery: 0, recompute: true,
    },
  }
}, 300_000)
afterAll(removeTempDirs)

describe('training at the Qwen3-0.6B geometry', () => {
  it('one LoRA GRPO step, a checkpoint, an exact resume; the merged export loads and serves', async () => {
    const store = new LocalBlobStore(tempDir())
    const steps: Record<string, number>[] = []
    // The first run's adapters and AdamW moments, kept once its trainer (and its 2.4 GB of weights) is gone.
    const { params, moments, optimizerStep } = await (async () => {
      const trainer = await GrpoTrainer.create({ ...input, checkpoints: { store, prefix: 'run' }, onStep: (_, m) => { steps.push(m) } })
      try {
        await trainer.run()
        expect(trainer.step).toBe(1)
        return {
          params: new Map([...trainer.model.params].map(([k, v]) => [k, v.slice()])),
          moments: new Map([...trainer.optimizer.state.m].map(([k, v]) => [k, v.slice()])),
          optimizerStep: trainer.optimizer.state.step,
        }
      } finally {
        await trainer.dispose()
      }
    })()
    console.log(`0.6B LoRA GRPO step: ${JSON.stringify(Object.fromEntries(['loss', 'grad_norm', 'response_tokens_mean', 'reward_std'].map((k) => [k, steps[0][k]])))}`)
    expect(steps[0].response_tokens_mean).toBeGreaterThan(0)
    expect(Number.isFinite(steps[0].loss)).toBe(true)
    expect(steps[0].grad_norm).toBeGreaterThan(0)
    const trained = [...params].filter(([name]) => name.endsWith('lora_B.weight'))
    expect(trained.some(([, v]) => v.some((x) => x !== 0))).toBe(true) // B starts at 0: the step moved it

    const resumed = await GrpoTrainer.create({ ...input, checkpoints: { store, prefix: 'run' } })
    try {
      expect(resumed.step).toBe(1)
      for (const [name, v] of params) expect(Buffer.from(resumed.model.params.get(name)!.buffer).equals(Buffer.from(v.buffer)), name).toBe(true)
      expect(resumed.optimizer.state.step).toBe(optimizerStep)
      for (const [name, m] of moments) expect(Buffer.from(resumed.optimizer.state.m.get(name)!.buffer).equals(Buffer.from(m.buffer)), name).toBe(true)

      // an adapter whose effect stands well above bf16 rounding
      for (const [name, v] of resumed.model.params) if (name.endsWith('lora_B.weight')) v.forEach((_, i) => (v[i] = 0.02 * Math.sin(i + name.length)))
      const merged = writeMergedModel(base, resumed.model, tempDir(), 500e6)
      const shards = readdirSync(merged).filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f))
      expect(shards.length).toBeGreaterThan(1)
      expect(existsSync(join(merged, 'model.safetensors.index.json'))).toBe(true)
      const folder = new SafetensorsFolder(merged)
      expect(new Set([...folder.tensors.values()].map((t) => t.dtype))).toEqual(new Set(['BF16']))

      const tokens = input.tokenizer.encode('<|im_start|>user\nWho wrote the novel Dune, and when?<|im_end|>\n<|im_start|>assistant\n')
      // each engine's logits for `scales` (the adapters' scale, read at every run) in turn
      const logitsOf = async (engine: Promise<Engine>, scales: number[] = [0]) => {
        const e = await engine
        try {
          const out: Float32Array[][] = []
          for (const s of scales) {
            scale = s
            out.push((await e.promptLogits([tokens]))[0])
          }
          return out
        } finally {
          await e.dispose()
        }
      }
      let scale = 0
      const cacheDir = tempDir()
      const lora = resumed.model.params as Map<string, Float32Array>
      // the base model is the adapted engine with the adapters switched off, as the trainer's reference policy is
      const [adapted, plain] = await logitsOf(Engine.fromCheckpoint(base, {
        ...TEST_ENGINE, cacheDir, logits: 'all', lora: { rank: 8, targets: input.options.lora!.targets, factors: lora, scale: () => scale },
      }), [resumed.model.loraScale, 0])
      const [fromMerged] = await logitsOf(Engine.load(merged, { ...TEST_ENGINE, cacheDir, logits: 'all' }))
      const error = (a: Float32Array[], b: Float32Array[]) => Math.max(...a.map((row, i) => {
        const scale = b[i].reduce((m, x) => Math.max(m, Math.abs(x)), 0)
        return row.reduce((m, x, j) => Math.max(m, Math.abs(x - b[i][j])), 0) / scale
      }))
      const [mergedError, adapterEffect] = [error(fromMerged, adapted), error(plain, adapted)]
      console.log(`0.6B merged bf16 export vs base + adapter: largest relative logit error ${mergedError.toExponential(2)} over ${tokens.length} positions; the adapter itself moves them by ${adapterEffect.toExponential(2)}`)
      expect(fromMerged).toHaveLength(tokens.length)
      expect(mergedError).toBeLessThan(0.02) // bf16 keeps 8 bits of mantissa
      expect(adapterEffect).toBeGreaterThan(10 * mergedError)
    } finally {
      await resumed.dispose()
    }
  }, 900_000)
})
