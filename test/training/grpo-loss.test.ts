// The GRPO loss graph against its plain TypeScript reference, its gradients against finite
// differences (alone on random logits, and through a whole tiny Qwen3 with LoRA adapters), masked
// tokens contributing nothing, and LoRA gradients as projections of the full-weight gradient.
import { afterAll, describe, expect, it } from 'vitest'
import { type FloatArray, Graph } from '../../gpu-worker/engine/onnx.ts'
import { SafetensorsFolder } from '../../gpu-worker/engine/safetensors.ts'
import { makeTinyCheckpoint } from '../../gpu-worker/engine/tiny.ts'
import { exposeOutput, grad } from '../../gpu-worker/training/autodiff.ts'
import { GRPO_LOSS_DEFAULTS, type GrpoLossOptions, addGrpoLoss, grpoLossReference, lossWeights, tokenLogprobs } from '../../gpu-worker/training/loss.ts'
import { PolicyModel } from '../../gpu-worker/training/model.ts'
import { f64, finiteDifferences, normals, relativeError, removeTempDirs, rolloutBatch, session, tempDir } from './helpers.ts'
import * as ort from 'onnxruntime-node'
import { TEST_ENGINE } from '../helpers/engine.ts'

afterAll(removeTempDirs)

const [B, L, V] = [3, 4, 6]
const OPTIONS: GrpoLossOptions = { ...GRPO_LOSS_DEFAULTS, klCoef: 0.05, entropyCoef: 0.01, clipHigh: 0.28 }

function lossInputs(seed: number) {
  const logits = normals(B * L * V, seed)
  const z = (b: number, i: number) => [...logits.subarray((b * L + i) * V, (b * L + i + 1) * V)]
  const logpOf = (b: number, i: number, t: number) => {
    const row = z(b, i)
    const top = Math.max(...row)
    return row[t] - top - Math.log(row.reduce((s, v) => s + Math.exp(v - top), 0))
  }
  const noise = normals(3 * B * L, seed + 1)
  const grid = <T,>(f: (b: number, i: number, k: number) => T): T[][] => Array.from({ length: B }, (_, b) => Array.from({ length: L }, (_, i) => f(b, i, b * L + i)))
  const targets = grid((b, i, k) => k % V)
  const mask = grid((b, i) => (i === 1 && b === 0 ? 0 : 1))
  // Two different normalisations (as for seq-mean-token-mean), so that a metric on the wrong weights shows.
  const lossWeights = grid((b, i) => mask[b][i] / (7 + b))
  const tokenWeights = grid((b, i) => mask[b][i] / 11)
  // Advantages of both signs, some large (dual clip), and old/ref logprobs that put ratios on every side of the clip range.
  const adv = grid((b, i, k) => (k % 5 === 0 ? -4 : 1.5 * noise[k]))
  const old = grid((b, i, k) => logpOf(b, i, targets[b][i]) + (k % 5 === 0 ? -1.5 : 0.5 * noise[B * L + k]))
  const ref = grid((b, i, k) => logpOf(b, i, targets[b][i]) + 0.3 * noise[2 * B * L + k])
  return { logits, grid: grid((b, i) => z(b, i)), x: { targets, lossWeights, tokenWeights, adv, old, ref } }
}

describe('GRPO loss graph', () => {
  it('equals the TypeScript reference and its gradient equals finite differences (float64)', async () => {
    const N = B * L // the B rows of L positions, one after the other (as packed)
    const g = new Graph('float64')
    const logits = g.input('logits', 'float64', [N, V])
    const { tokenLogp, entropy } = tokenLogprobs(g, logits, g.input('targets', 'int64', [N]), true)
    const { loss, metrics } = addGrpoLoss(g, { tokenLogp, entropy, length: N }, OPTIONS)
    const grads = grad(g, loss, [logits])
    exposeOutput(g, 'loss', loss, 'float64', [])
    for (const [k, v] of Object.entries(metrics)) exposeOutput(g, `metric.${k}`, v, 'float64', [])
    exposeOutput(g, 'grad', grads.get(logits)!, 'float64', [N, V])
    const s = await session(g)
    const { logits: values, grid, x } = lossInputs(5)
    const flat = (m: number[][]) => Float64Array.from(m.flat())
    const feeds: Record<string, ort.Tensor> = {
      logits: f64(values, [N, V]),
      targets: new ort.Tensor('int64', BigInt64Array.from(x.targets.flat(), BigInt), [N]),
      loss_weights: f64(flat(x.lossWeights), [N]), token_weights: f64(flat(x.tokenWeights), [N]), advantages: f64(flat(x.adv), [N]),
      old_logprobs: f64(flat(x.old), [N]), ref_logprobs: f64(flat(x.ref), [N]),
    }
    const out = await s.run(feeds)
    const expected = grpoLossReference(grid, x, OPTIONS)
    expect(out.loss.data[0] as number).toBeCloseTo(expected.loss, 12)
    for (const [k, v] of Object.entries(expected.metrics)) expect(out[`metric.${k}`].data[0] as number, k).toBeCloseTo(v, 12)
    // The inputs reach every branch: some tokens clipped above, some dual-clipped.
    expect(expected.metrics.clip_frac).toBeGreaterThan(0)
    expect(expected.metrics.clip_frac_lower).toBeGreaterThan(0)
    const analytic = out.grad.data as Float64Array
    const [numeric, exact] = await finiteDifferences(async (f) => (await s.run(f)).loss.data[0] as number, feeds, 'logits', analytic)
    expect(relativeError(exact, numeric)).toBeLessThan(1e-6)
    // The masked position's logits get exactly nothing.
    expect([...analytic.subarray(1 * V, 2 * V)].every((v) => v === 0)).toBe(true)
  })
})

async function tinyModel(options: { lora: boolean; float: 'float32' | 'float64'; load?: (name: string) => FloatArray }) {
  const dir = tempDir()
  const c = makeTinyCheckpoint(dir, { seed: 4, hiddenSize: 16, numHeads: 2, numKvHeads: 1, headDim: 8, intermediateSize: 24, numLayers: 2, tieWordEmbeddings: false })
  const st = new SafetensorsFolder(dir)
  const base = (name: string) => st.read(name, 'float64') as Float64Array
  const model = await PolicyModel.create(c, options.load ?? base, { session: TEST_ENGINE,
    float: options.float, loss: OPTIONS, seed: 1,
    ...(options.lora ? { lora: { rank: 2, alpha: 4, targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] } } : {}),
  })
  // Random B factors (B = 0 at initialisation would make every A gradient zero).
  for (const [name, v] of model.params) if (name.endsWith('lora_B.weight')) v.set(normals(v.length, name.length, 0.3))
  return { model, c, base, dir }
}

const ROLLOUT = [
  { tokens: [10, 20, 30, 40, 50, 60, 70], promptLength: 3, lossMask: [1, 1, 0, 0] },
  { tokens: [11, 21, 31, 41, 51], promptLength: 2, lossMask: [1, 0, 1] },
]

describe('GRPO loss through a tiny Qwen3', () => {
  it('LoRA parameter gradients equal finite differences (float64)', async () => {
    const { model } = await tinyModel({ lora: true, float: 'float64' })
    const { batch, x } = rolloutBatch(ROLLOUT, 9)
    const result = await model.gradients(batch, x)
    const grads = new Map([...result.grads].map(([name, g]) => [name, g.slice()])) // each loss below reuses the model's gradient buffers
    expect(result.metrics.clip_frac + result.metrics.clip_frac_lower).toBeGreaterThanOrEqual(0)
    const errors: number[] = []
    for (const [k, name] of [...model.params.keys()].entries()) {
      const saved = model.params.get(name)!.slice()
      const lossAt = async (f: Record<string, ort.Tensor>) => {
        model.params.get(name)!.set(f[name].data as Float64Array)
        const { loss } = await model.gradients(batch, x)
        model.params.get(name)!.set(saved)
        return loss
      }
      const [numeric, exact] = await finiteDifferences(lossAt, { [name]: f64(saved as Float64Array, [saved.length]) }, name, grads.get(name) as Float64Array, { directions: 2, seed: k })
      errors.push(relativeError(exact, numeric))
    }
    expect(Math.max(...errors)).toBeLessThan(1e-6)
  })

  it('tokens with loss mask 0 contribute exactly nothing', async () => {
    const { model } = await tinyModel({ lora: true, float: 'float32' })
    const { batch, x } = rolloutBatch(ROLLOUT, 9)
    const first = await model.gradients(batch, x)
    const firstGrads = new Map([...first.grads].map(([name, g]) => [name, g.slice()])) // the next run reuses the model's gradient buffers
    // Change everything the loss reads at masked positions: targets, advantages, old and reference logprobs.
    const masked = batch.lossMask.flatMap((m, i) => (m === 0 ? [i] : []))
    const changed = { ...batch, targets: batch.targets.map((t, i) => (masked.includes(i) ? (t + 7) % 288 : t)) }
    const x2 = {
      ...x,
      advantages: Array.from(x.advantages, (a, i) => (masked.includes(i) ? a * -3 + 1 : a)),
      oldLogprobs: Array.from(x.oldLogprobs, (a, i) => (masked.includes(i) ? a - 2 : a)),
      refLogprobs: Array.from(x.refLogprobs, (a, i) => (masked.includes(i) ? a + 2 : a)),
    }
    const second = await model.gradients(changed, x2)
    expect(second.loss).toBe(first.loss)
    for (const [name, gr] of firstGrads) expect([...second.grads.get(name)!]).toEqual([...gr])
    // And the mask matters: unmasking one of them changes the gradient.
    const unmaskedBatch = { ...changed, lossMask: batch.lossMask.map((m, i) => (i === masked[0] ? 1 : m)) }
    const unmasked = await model.gradients(unmaskedBatch, { ...x2, weights: lossWeights([unmaskedBatch], { kind: 'token-mean' })[0] })
    expect(unmasked.loss).not.toBe(first.loss)
  })

  it('LoRA gradients are the full-weight gradient projected onto the adapter factors', async () => {
    const lora = await tinyModel({ lora: true, float: 'float64' })
    const full = await tinyModel({ lora: false, float: 'float64', load: (name) => lora.model.mergedWeight(name, lora.base) })
    const { batch, x } = rolloutBatch(ROLLOUT, 9)
    const gl = (await lora.model.gradients(batch, x)).grads
    const gf = (await full.model.gradients(batch, x)).grads // another model: other buffers
    const s = lora.model.loraScale
    for (const ad of lora.model.adapters) {
      const dW = gf.get(ad.weight)!, A = lora.model.params.get(ad.a)!, Bm = lora.model.params.get(ad.b)!
      // dA = s B^T dW [r, in]; dB = s dW A^T [out, r]
      const dA = new Float64Array(ad.rank * ad.inFeatures), dB = new Float64Array(ad.outFeatures * ad.rank)
      for (let o = 0; o < ad.outFeatures; o++) for (let r = 0; r < ad.rank; r++) for (let i = 0; i < ad.inFeatures; i++) {
        dA[r * ad.inFeatures + i] += s * Bm[o * ad.rank + r] * dW[o * ad.inFeatures + i]
        dB[o * ad.rank + r] += s * dW[o * ad.inFeatures + i] * A[r * ad.inFeatures + i]
      }
      expect(relativeError(gl.get(ad.a)!, dA), ad.a).toBeLessThan(1e-10)
      expect(relativeError(gl.get(ad.b)!, dB), ad.b).toBeLessThan(1e-10)
    }
  })
})
