// The GRPO loop end to end on a tiny random Qwen3 with the real episode runner and engine:
// exact resume (4 steps straight == 2 + resume + 2, bit-identical weights) and the merged export
// (the engine's logits on the merged folder == the trained policy's, != the base model's).
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TEST_ENGINE } from '../helpers/engine.ts'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import type { Environment } from '../../shared/protocol/environment.ts'
import { TRAINING_OPTIONS } from '../../shared/protocol/options.ts'
import { userContentForQuestion } from '../../shared/protocol/template.ts'
import { ChatTokenizer } from '../../shared/protocol/tokenizer.ts'
import type { DatasetRow } from '../../datasets/read.ts'
import { openCheckpoint } from '../../gpu-worker/engine/checkpoint.ts'
import { Engine } from '../../gpu-worker/engine/session.ts'
import { makeTinyCheckpoint } from '../../gpu-worker/engine/tiny.ts'
import { type GrpoInput, GrpoTrainer, groupAdvantages } from '../../gpu-worker/training/grpo.ts'
import { GRPO_LOSS_DEFAULTS } from '../../gpu-worker/training/loss.ts'
import { packBatch, perSequence } from '../../gpu-worker/training/model.ts'
import { ADAMW_DEFAULTS } from '../../gpu-worker/training/optim.ts'
import { writeAdapter, writeMergedModel } from '../../gpu-worker/training/state.ts'
import { removeTempDirs, tempDir } from './helpers.ts'

afterAll(removeTempDirs)

const environment: Environment = { complete: async (messages) => ({ content: `${messages.length} messages`, usage: { promptTokens: 3, completionTokens: 2 } }) }
const data: DatasetRow[] = ['2+3', '7*6', '9-4'].map((q, index) => ({ index, dataSource: 'arith', question: q, content: userContentForQuestion(q), golds: ['x'] }))

let input: Omit<GrpoInput, 'workDir' | 'checkpoints'>
beforeAll(async () => {
  const dir = tempDir()
  makeTinyCheckpoint(dir, { seed: 5, hiddenSize: 32, numHeads: 4, numKvHeads: 2, intermediateSize: 48, numLayers: 1 })
  input = {
    base: openCheckpoint(dir),
    tokenizer: await ChatTokenizer.fromFolder(dir),
    environment,
    data,
    // A reward a random model can move: the share of sampled bytes that are ASCII letters.
    reward: (t) => {
      const sampled = t.tokens.slice(t.promptLength).filter((_, i) => t.lossMask[i] === 1)
      return sampled.filter((id) => (id >= 65 && id <= 90) || (id >= 97 && id <= 122)).length / Math.max(1, sampled.length)
    },
    options: {
      steps: 4, groupSize: 2, promptsPerStep: 2, updatesPerStep: 2, microBatchTokens: 1, // one episode per run
      loss: GRPO_LOSS_DEFAULTS, optimizer: { ...ADAMW_DEFAULTS, lr: 1e-2 }, aggregation: { kind: 'token-mean' }, scaleByStd: true,
      protocol: { ...TRAINING_OPTIONS, maxTurns: 2, maxNewTokensPerTurn: 8 }, environmentErrorLimit: 0.5,
      lora: { rank: 2, alpha: 4, targets: ['q', 'v', 'gate', 'down'] },
      seed: 7, engine: TEST_ENGINE, checkpointEvery: 2, validationEvery: 0,
    },
  }
})

describe('group advantages', () => {
  it('standardises within each group with the unbiased std, or only centres (Dr.GRPO)', () => {
    const a = groupAdvantages([1, 0, 0, 0, 3, 3], 3, true)
    // group 1: mean 1/3, unbiased std sqrt(1/3)
    expect(a[0]).toBeCloseTo((2 / 3) / (Math.sqrt(1 / 3) + 1e-6), 12)
    expect(a.slice(3)).toEqual([-2 / (Math.sqrt(3) + 1e-6), 1 / (Math.sqrt(3) + 1e-6), 1 / (Math.sqrt(3) + 1e-6)])
    groupAdvantages([1, 0, 0, 0, 3, 3], 3, false).forEach((v, i) => expect(v).toBeCloseTo([2 / 3, -1 / 3, -1 / 3, -2, 1, 1][i], 12))
  })
})

describe('GRPO loop', () => {
  it('4 steps straight == 2 steps + resume + 2 steps, bit for bit; the merged export matches the policy', async () => {
    const metrics: Record<string, number>[] = []
    const straight = await GrpoTrainer.create({
      ...input, workDir: tempDir(), checkpoints: { store: new LocalBlobStore(tempDir()), prefix: 'run' }, onStep: (_, m) => { metrics.push(m) },
    })
    const initial = new Map([...straight.model.params].map(([k, v]) => [k, v.slice()]))
    await straight.run()
    expect(straight.step).toBe(4)
    expect(metrics.some((m) => m.reward_std > 0)).toBe(true)

    const store = new LocalBlobStore(tempDir())
    const first = await GrpoTrainer.create({ ...input, workDir: tempDir(), checkpoints: { store, prefix: 'run' } })
    await first.run(2)
    await first.dispose()
    const resumed = await GrpoTrainer.create({ ...input, workDir: tempDir(), checkpoints: { store, prefix: 'run' } })
    expect(resumed.step).toBe(2)
    await resumed.run()
    expect(resumed.step).toBe(4)

    let changed = false
    for (const [name, v] of straight.model.params) {
      expect(Buffer.from(resumed.model.params.get(name)!.buffer).equals(Buffer.from(v.buffer)), name).toBe(true)
      changed ||= v.some((x, i) => x !== initial.get(name)![i])
    }
    expect(changed).toBe(true)
    expect(resumed.optimizer.state.step).toBe(straight.optimizer.state.step)

    // Merged export: at every position of a sequence, the engine on the merged folder gives the
    // trained policy's log-probabilities, not the base model's.
    const merged = writeMergedModel(input.base, straight.model, tempDir())
    const engine = await Engine.load(merged, { ...TEST_ENGINE, cacheDir: tempDir(), logits: 'all' })
    const tokens = input.tokenizer.encode('<|im_start|>user\nhello there, how are you?<|im_end|>\n<|im_start|>assistant\n')
    const rows = (await engine.promptLogits([tokens]))[0]
    const engineLogprobs = rows.slice(0, -1).map((logits, i) => {
      const top = Math.max(...logits)
      return logits[tokens[i + 1]] - top - Math.log(logits.reduce((s, v) => s + Math.exp(v - top), 0))
    })
    const batch = packBatch([{ tokens, promptLength: 1, lossMask: tokens.slice(1).map(() => 1) }], 0)
    const [current] = perSequence(batch, await straight.model.tokenLogprobs(batch, 'current'))
    const [base] = perSequence(batch, await straight.model.tokenLogprobs(batch, 'reference'))
    expect(current).toHaveLength(tokens.length - 1)
    const gap = (a: number[], b: number[]) => Math.max(...a.map((x, i) => Math.abs(x - b[i])))
    expect(gap(engineLogprobs, current)).toBeLessThan(1e-4)
    expect(gap(engineLogprobs, base)).toBeGreaterThan(1e-3)
    await engine.dispose()

    const adapter = writeAdapter(straight.model, input.options.lora!, 'tiny', tempDir())
    expect(JSON.parse(readFileSync(join(adapter, 'adapter_config.json'), 'utf8')).target_modules).toEqual(['q_proj', 'v_proj', 'gate_proj', 'down_proj'])
    expect(existsSync(join(adapter, 'adapter_model.safetensors'))).toBe(true)
    await Promise.all([straight.dispose(), resumed.dispose()])
  })

  it('fails a step in which more than the limit of environment calls failed (environment_unavailable), before any update', async () => {
    const trainer = await GrpoTrainer.create({ ...input, workDir: tempDir(), checkpoints: { store: new LocalBlobStore(tempDir()), prefix: 'run' } })
    const before = new Map([...trainer.model.params].map(([k, v]) => [k, v.slice()]))
    // a random model makes no calls: the step's episodes are the real runner's, with calls marked failed
    const rollout = trainer.rollout.bind(trainer)
    const failing = (failed: number, calls: number) => async (...args: Parameters<typeof rollout>) => {
      const played = await rollout(...args)
      return { ...played, metrics: { ...played.metrics, environmentCalls: calls, environmentErrors: failed } }
    }
    trainer.rollout = failing(3, 4)
    await expect(trainer.trainStep()).rejects.toMatchObject({ code: 'environment_unavailable', message: '3 (more than 50%) of 4 environment calls of step 1 failed' })
    expect([...trainer.model.params].every(([k, v]) => v.every((x, i) => x === before.get(k)![i]))).toBe(true)
    trainer.rollout = failing(2, 4) // half is not more than half
    await expect(trainer.trainStep()).resolves.toMatchObject({ metrics: { step: 1 } })
    await trainer.dispose()
  })
})
