// Token sampling from one row of logits: greedy, temperature, top-k, top-p, with a seeded
// generator per sequence (so a sequence's samples do not depend on what else is in the batch).

/** sfc32, seeded through splitmix32: a small, fast generator with a 128-bit state. Returns [0, 1). */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0
  const splitmix = () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
  }
  let a = splitmix(), b = splitmix(), c = splitmix(), d = splitmix()
  return () => {
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return (t >>> 0) / 4294967296
  }
}

export interface SamplingOptions {
  /** 0 = greedy (argmax). Default 1. */
  temperature?: number
  /** Nucleus sampling: keep the smallest set of most likely tokens whose probability reaches topP. Default 1 (off). */
  topP?: number
  /** Keep only the k most likely tokens. 0 = off (default). */
  topK?: number
  /**
   * Which distribution the returned logprob is taken under: 'model' (default) = log-softmax of the
   * raw logits (temperature 1, no filtering), the policy a trainer differentiates; 'sampling' = the
   * distribution actually sampled from (after temperature, top-k, top-p; 0 when greedy). They are
   * equal at temperature 1 without top-k/top-p, the training setting.
   */
  logprobs?: 'model' | 'sampling'
}

export interface Sample { token: number; logprob: number }

/** Picks a token from `logits` and returns it with its log-probability (see SamplingOptions.logprobs). */
export function sampleToken(logits: Float32Array | Float64Array, options: SamplingOptions, random: () => number): Sample {
  const temperature = options.temperature ?? 1
  const topP = options.topP ?? 1
  const topK = options.topK ?? 0
  const V = logits.length
  let max = -Infinity
  let argmax = 0
  for (let i = 0; i < V; i++) if (logits[i] > max) { max = logits[i]; argmax = i }
  let sumExp = 0
  for (let i = 0; i < V; i++) sumExp += Math.exp(logits[i] - max)
  const logZ = max + Math.log(sumExp)
  const modelLogprob = (token: number) => logits[token] - logZ
  const sampling = options.logprobs === 'sampling'
  if (temperature === 0 || topK === 1) return { token: argmax, logprob: sampling ? 0 : modelLogprob(argmax) }

  // Unnormalised probabilities at this temperature.
  const p = new Float64Array(V)
  let total = 0
  for (let i = 0; i < V; i++) total += p[i] = Math.exp((logits[i] - max) / temperature)
  let candidates: number[] | null = null
  if (topK > 0 && topK < V) {
    candidates = byProbability(p, Array.from({ length: V }, (_, i) => i)).slice(0, topK)
  }
  if (topP < 1) {
    // A token with probability <= (1 - topP) / V can never be inside the nucleus (the tokens above
    // it already hold at least topP), so only the rest needs sorting.
    const pool = candidates ?? []
    if (!candidates) for (let i = 0; i < V; i++) if (p[i] > ((1 - topP) / V) * total) pool.push(i)
    const sorted = byProbability(p, pool)
    const poolTotal = sorted.reduce((s, i) => s + p[i], 0)
    const normaliser = candidates ? poolTotal : total
    const nucleus: number[] = []
    let cumulative = 0
    for (const i of sorted) {
      nucleus.push(i)
      cumulative += p[i] / normaliser
      if (cumulative >= topP) break
    }
    candidates = nucleus
  }
  const kept = candidates ? candidates.reduce((s, i) => s + p[i], 0) : total
  const token = pick(p, candidates, kept, random())
  return { token, logprob: sampling ? Math.log(p[token] / kept) : modelLogprob(token) }
}

function byProbability(p: Float64Array, indices: number[]): number[] {
  return indices.sort((a, b) => p[b] - p[a] || a - b)
}

function pick(p: Float64Array, candidates: number[] | null, total: number, u: number): number {
  let target = u * total
  const list = candidates ?? p.keys()
  let last = 0
  for (const i of list) {
    last = i
    target -= p[i]
    if (target < 0) return i
  }
  return last // rounding left a sliver of mass: the last candidate takes it
}
