// An independent Qwen3 forward pass in plain TypeScript float64 loops, written from the
// transformers modeling_qwen3.py semantics (not from our graph): one sequence, no cache.
// It is slow and only for tiny configs.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { SafetensorsFolder } from '../../gpu-worker/engine/safetensors.ts'

/** Logits [S][V] for one sequence of token ids, at positions 0..S-1. */
export function referenceLogits(dir: string, ids: number[]): Float64Array[] {
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))
  const weights = new SafetensorsFolder(dir)
  const cache = new Map<string, Float64Array>()
  const W = (name: string) => {
    if (!cache.has(name)) cache.set(name, weights.read(name, 'float64') as Float64Array)
    return cache.get(name)!
  }
  const hidden: number = cfg.hidden_size
  const H: number = cfg.num_attention_heads
  const KV: number = cfg.num_key_value_heads
  const D: number = cfg.head_dim ?? hidden / H
  const eps: number = cfg.rms_norm_eps
  // transformers 5 writes rope_parameters.rope_theta; earlier versions wrote rope_theta
  const theta: number = cfg.rope_theta ?? cfg.rope_parameters?.rope_theta
  if (!Number.isFinite(theta)) throw new Error(`${dir}/config.json names no rope_theta`)

  // y[out] = sum_in w[out][in] x[in]  (torch Linear, weight [out, in])
  const linear = (w: Float64Array, x: Float64Array, out: number) => {
    const n = x.length
    const y = new Float64Array(out)
    for (let o = 0; o < out; o++) {
      let s = 0
      for (let i = 0; i < n; i++) s += w[o * n + i] * x[i]
      y[o] = s
    }
    return y
  }
  const rmsNorm = (x: Float64Array, w: Float64Array) => {
    let ms = 0
    for (const v of x) ms += v * v
    const r = 1 / Math.sqrt(ms / x.length + eps)
    return x.map((v, i) => v * r * w[i])
  }
  // transformers computes the inverse frequencies in float32: 1 / theta ** (arange(0, D, 2) / D).
  const f = Math.fround
  const invFreq = Array.from({ length: D / 2 }, (_, i) => f(1 / f(theta ** f((2 * i) / D))))
  const rope = (x: Float64Array, pos: number) => {
    const out = new Float64Array(D)
    for (let i = 0; i < D / 2; i++) {
      const angle = pos * invFreq[i]
      const [c, s] = [Math.cos(angle), Math.sin(angle)]
      out[i] = x[i] * c - x[i + D / 2] * s
      out[i + D / 2] = x[i + D / 2] * c + x[i] * s
    }
    return out
  }
  const headsOf = (x: Float64Array, n: number) => Array.from({ length: n }, (_, h) => x.slice(h * D, (h + 1) * D))

  const embed = W('model.embed_tokens.weight')
  let h = ids.map((t) => embed.slice(t * hidden, (t + 1) * hidden))
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `model.layers.${l}.`
    const [wq, wk, wv, wo] = ['q', 'k', 'v', 'o'].map((n) => W(`${p}self_attn.${n}_proj.weight`))
    const [qNorm, kNorm] = [W(`${p}self_attn.q_norm.weight`), W(`${p}self_attn.k_norm.weight`)]
    const xs = h.map((x) => rmsNorm(x, W(`${p}input_layernorm.weight`)))
    const q = xs.map((x, s) => headsOf(linear(wq, x, H * D), H).map((v) => rope(rmsNorm(v, qNorm), s)))
    const k = xs.map((x, s) => headsOf(linear(wk, x, KV * D), KV).map((v) => rope(rmsNorm(v, kNorm), s)))
    const v = xs.map((x) => headsOf(linear(wv, x, KV * D), KV))
    h = h.map((resid, s) => {
      const attn = new Float64Array(H * D)
      for (let head = 0; head < H; head++) {
        const kvHead = Math.floor(head / (H / KV))
        const scores = Array.from({ length: s + 1 }, (_, j) => {
          let dot = 0
          for (let d = 0; d < D; d++) dot += q[s][head][d] * k[j][kvHead][d]
          return dot / Math.sqrt(D)
        })
        const max = Math.max(...scores)
        const e = scores.map((x) => Math.exp(x - max))
        const z = e.reduce((a, b) => a + b, 0)
        for (let j = 0; j <= s; j++) for (let d = 0; d < D; d++) attn[head * D + d] += (e[j] / z) * v[j][kvHead][d]
      }
      const o = linear(wo, attn, hidden)
      return resid.map((r, i) => r + o[i])
    })
    const I: number = cfg.intermediate_size
    const [gate, up, down] = ['gate', 'up', 'down'].map((n) => W(`${p}mlp.${n}_proj.weight`))
    h = h.map((resid) => {
      const x = rmsNorm(resid, W(`${p}post_attention_layernorm.weight`))
      const g = linear(gate, x, I)
      const u = linear(up, x, I)
      const act = g.map((gi, i) => (gi / (1 + Math.exp(-gi))) * u[i])
      const y = linear(down, act, hidden)
      return resid.map((r, i) => r + y[i])
    })
  }
  const head = cfg.tie_word_embeddings ? embed : W('lm_head.weight')
  return h.map((x) => linear(head, rmsNorm(x, W('model.norm.weight')), cfg.vocab_size))
}

/** max |a - b| / max |b|: the error relative to the logits' scale. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let err = 0
  let scale = 0
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]))
    scale = Math.max(scale, Math.abs(b[i]))
  }
  return err / scale
}
