// AdamW (as torch.optim.AdamW), global gradient-norm clipping (as torch.nn.utils.clip_grad_norm_)
// and learning-rate schedules, over the parameter map of a PolicyModel. The state is plain arrays
// so a checkpoint can store it and a resumed run continues bit for bit.
import type { FloatArray } from '../engine/onnx.ts'

export interface AdamWOptions {
  lr: number
  beta1: number
  beta2: number
  eps: number
  weightDecay: number
  /** Global L2 norm the gradients are scaled down to (0: no clipping). */
  maxGradNorm: number
  schedule: LrSchedule
}

export interface LrSchedule {
  kind: 'constant' | 'warmup' | 'cosine'
  /** Linear warm-up from 0 over this many optimizer steps ('warmup' and 'cosine'). */
  warmupSteps: number
  /** 'cosine': the step where the rate reaches minRatio * lr. */
  totalSteps: number
  minRatio: number
}

export const ADAMW_DEFAULTS: AdamWOptions = {
  lr: 1e-6, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1.0,
  schedule: { kind: 'constant', warmupSteps: 0, totalSteps: 0, minRatio: 0 },
}

/** The learning-rate multiplier at optimizer step `t` (0-based). */
export function lrFactor(s: LrSchedule, t: number): number {
  if (s.kind === 'constant') return 1
  if (t < s.warmupSteps) return (t + 1) / s.warmupSteps
  if (s.kind === 'warmup') return 1
  const progress = Math.min(1, (t - s.warmupSteps) / Math.max(1, s.totalSteps - s.warmupSteps))
  return s.minRatio + (1 - s.minRatio) * 0.5 * (1 + Math.cos(Math.PI * progress))
}

/** The moments are kept in each parameter's own type (as torch keeps them): float32 for a float32 model. */
export interface AdamWState { step: number; m: Map<string, FloatArray>; v: Map<string, FloatArray> }

export class AdamW {
  state: AdamWState = { step: 0, m: new Map(), v: new Map() }
  constructor(readonly options: AdamWOptions) {}

  /** Clips `grads` in place to the global norm and applies one AdamW update to `params`; returns the norm before clipping and the rate used. */
  step(params: Map<string, FloatArray>, grads: Map<string, FloatArray>): { gradNorm: number; lr: number } {
    const o = this.options
    let sq = 0
    for (const g of grads.values()) for (let i = 0; i < g.length; i++) sq += g[i] * g[i]
    const gradNorm = Math.sqrt(sq)
    const clip = o.maxGradNorm > 0 ? Math.min(1, o.maxGradNorm / (gradNorm + 1e-6)) : 1
    const lr = o.lr * lrFactor(o.schedule, this.state.step)
    this.state.step += 1
    const t = this.state.step
    const c1 = 1 - o.beta1 ** t
    const c2 = 1 - o.beta2 ** t
    for (const [name, p] of params) {
      const g = grads.get(name)
      if (!g) throw new Error(`no gradient for ${name}`)
      let m = this.state.m.get(name), v = this.state.v.get(name)
      if (!m || !v) {
        const Type = p instanceof Float32Array ? Float32Array : Float64Array
        this.state.m.set(name, (m = new Type(p.length)))
        this.state.v.set(name, (v = new Type(p.length)))
      }
      for (let i = 0; i < p.length; i++) {
        const gi = g[i] * clip
        m[i] = o.beta1 * m[i] + (1 - o.beta1) * gi
        v[i] = o.beta2 * v[i] + (1 - o.beta2) * gi * gi
        // Decoupled weight decay, then the bias-corrected Adam step.
        p[i] = p[i] * (1 - lr * o.weightDecay) - (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + o.eps)
      }
    }
    return { gradNorm, lr }
  }
}

/** Adds `grads` into `into`, in the gradients' own type (gradient accumulation over micro-batches, as torch accumulates .grad). */
export function accumulate(into: Map<string, FloatArray>, grads: Map<string, FloatArray>) {
  for (const [name, g] of grads) {
    const acc = into.get(name)
    if (acc) for (let i = 0; i < g.length; i++) acc[i] += g[i]
    else into.set(name, g.slice())
  }
}
