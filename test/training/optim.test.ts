// AdamW, clipping and schedules against closed forms; gradient accumulation against one big batch;
// and a few optimizer steps of supervised training lowering the loss (LoRA and full fine-tuning).
import { afterAll, describe, expect, it } from 'vitest'
import { SafetensorsFolder } from '../../gpu-worker/engine/safetensors.ts'
import { makeTinyCheckpoint } from '../../gpu-worker/engine/tiny.ts'
import { GRPO_LOSS_DEFAULTS, lossWeights } from '../../gpu-worker/training/loss.ts'
import { PolicyModel } from '../../gpu-worker/training/model.ts'
import { ADAMW_DEFAULTS, AdamW, lrFactor } from '../../gpu-worker/training/optim.ts'
import { type ScoredRow, optimizerStep, prepareMicroBatches } from '../../gpu-worker/training/update.ts'
import { relativeError, removeTempDirs, tempDir } from './helpers.ts'
import { TEST_ENGINE } from '../helpers/engine.ts'

afterAll(removeTempDirs)

describe('AdamW', () => {
  it('first step moves each weight by lr against the gradient sign, after decoupled decay', () => {
    const opt = new AdamW({ ...ADAMW_DEFAULTS, lr: 0.1, weightDecay: 0.5, maxGradNorm: 0 })
    const p = new Map([['w', Float64Array.of(1, -2, 3)]])
    opt.step(p, new Map([['w', Float64Array.of(0.3, -4, 0)]]))
    // p (1 - lr wd) - lr g / (|g| + eps)
    expect([...p.get("w")!].map((v) => +v.toFixed(6))).toEqual([0.85, -1.8, 2.85])
  })

  it('clips the global gradient norm to maxGradNorm', () => {
    const opt = new AdamW({ ...ADAMW_DEFAULTS, lr: 1, beta1: 0, beta2: 0, eps: 0, weightDecay: 0, maxGradNorm: 1 })
    const p = new Map([['a', Float64Array.of(0)], ['b', Float64Array.of(0)]])
    const { gradNorm } = opt.step(p, new Map([['a', Float64Array.of(3)], ['b', Float64Array.of(4)]]))
    expect(gradNorm).toBe(5)
    // beta2 = 0: v = (clipped g)^2, so the second moment shows the clipped gradient: 3/5 and 4/5 of the norm 1.
    expect(Math.sqrt(opt.state.v.get('a')![0])).toBeCloseTo(0.6, 6)
    expect(Math.sqrt(opt.state.v.get('b')![0])).toBeCloseTo(0.8, 6)
  })

  it('schedules: constant, linear warm-up, cosine to a floor', () => {
    expect(lrFactor({ kind: 'constant', warmupSteps: 5, totalSteps: 10, minRatio: 0 }, 0)).toBe(1)
    const warm = { kind: 'warmup' as const, warmupSteps: 4, totalSteps: 0, minRatio: 0 }
    expect([0, 1, 3, 4, 100].map((t) => lrFactor(warm, t))).toEqual([0.25, 0.5, 1, 1, 1])
    const cos = { kind: 'cosine' as const, warmupSteps: 2, totalSteps: 12, minRatio: 0.1 }
    expect(lrFactor(cos, 1)).toBe(1)
    expect(lrFactor(cos, 2)).toBe(1)
    expect(lrFactor(cos, 7)).toBeCloseTo(0.55, 12)
    expect(lrFactor(cos, 12)).toBeCloseTo(0.1, 12)
    expect(lrFactor(cos, 50)).toBeCloseTo(0.1, 12)
  })
})

async function tiny(lora: boolean, float: 'float32' | 'float64', objective: 'sft' | 'grpo') {
  const dir = tempDir()
  const c = makeTinyCheckpoint(dir, { seed: 2, hiddenSize: 32, numHeads: 4, numKvHeads: 2, intermediateSize: 64, numLayers: 2 })
  const st = new SafetensorsFolder(dir)
  return PolicyModel.create(c, (n) => st.read(n, float), { session: TEST_ENGINE,
    float, loss: { ...GRPO_LOSS_DEFAULTS, objective }, seed: 3,
    ...(lora ? { lora: { rank: 4, alpha: 8, targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] } } : {}),
  })
}

// Demonstrations: a fixed prompt, then a response to learn (mask 1) with an inserted part (mask 0).
const DEMOS: ScoredRow[] = [0, 1, 2, 3].map((k) => {
  const prompt = [256 + k, 65, 66]
  const response = [100 + k, 101 + k, 102 + k, 7, 7, 103 + k, 104 + k, 256 + 9]
  return { tokens: [...prompt, ...response], promptLength: prompt.length, lossMask: [1, 1, 1, 0, 0, 1, 1, 1], advantage: 1 }
})

describe('training steps', () => {
  it('micro-batch gradients add up to the gradient of the whole mini-batch (float64)', async () => {
    const model = await tiny(true, 'float64', 'grpo')
    for (const [name, v] of model.params) if (name.endsWith('lora_B.weight')) v.fill(0.05)
    const rows = DEMOS.map((r, i) => ({ ...r, advantage: i % 2 ? 0.8 : -1.1 }))
    const grads = async (size: number) => {
      const micro = await prepareMicroBatches(model, rows, size, 0, true)
      const weights = lossWeights(micro.map((m) => m.batch), { kind: 'token-mean' })
      const acc = new Map<string, number[]>()
      for (const [k, m] of micro.entries()) {
        const r = await model.gradients(m.batch, { ...m, weights: weights[k] })
        for (const [k, g] of r.grads) acc.set(k, (acc.get(k) ?? new Array(g.length).fill(0)).map((v, i) => v + g[i]))
      }
      return acc
    }
    const [whole, split] = [await grads(40), await grads(20)] // token budgets: 4 rows of 10 positions, then 2
    for (const [k, g] of whole) expect(relativeError(split.get(k)!, g), k).toBeLessThan(1e-12)
  })

  for (const lora of [true, false]) {
    it(`a few AdamW steps lower the supervised loss (${lora ? 'LoRA' : 'full fine-tuning'})`, async () => {
      const model = await tiny(lora, 'float32', 'sft')
      const opt = new AdamW({ ...ADAMW_DEFAULTS, lr: lora ? 2e-2 : 5e-3 })
      const micro = await prepareMicroBatches(model, DEMOS, 20, 0, false) // 2 rows per micro-batch
      const losses: number[] = []
      for (let step = 0; step < 6; step++) losses.push((await optimizerStep(model, opt, micro, { kind: 'token-mean' })).loss)
      expect(losses.at(-1)!).toBeLessThan(0.6 * losses[0])
    })
  }
})
