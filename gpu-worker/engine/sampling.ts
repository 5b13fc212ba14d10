// Token sampling from one row of the serving graph's outputs (qwen3.ts, samplingHead): greedy,
// temperature, top-k, top-p, with one seeded generator per sequence (so a sequence's samples do not
// depend on what else is in the batch). The graph has done the work over the vocabulary (the
// argmax, log Z and the tempered weights); what is left here is a walk over the weights, or, for
// top-k / top-p, the native sampler (native/sampling.cc): one pass that buckets the weights by their
// float32 exponent, so that only the tokens of the boundary bucket are ever sorted, and a draw that
// walks the kept set without listing it. No exp or log runs per vocabulary entry.
import { sampleFiltered } from './native.ts'

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

/** One row of the serving graph's sampling outputs. */
export interface RowScores {
  /** Raw logits [V]. */
  logits: Float32Array
  /** exp((logits - max) / temperature) [V] (all 1 for a greedy row). */
  weights: Float32Array
  weightSum: number
  /** logsumexp of the raw logits. */
  logZ: number
  argmax: number
}

export interface Sample { token: number; logprob: number }

/** Whether a row draws a random number each step (everything but greedy does). */
export const isGreedy = (o: SamplingOptions) => (o.temperature ?? 1) === 0 || o.topK === 1
/** Whether a row needs the whole weights row (top-k / top-p), or only the graph's own draw. */
export const isFiltered = (o: SamplingOptions) => !isGreedy(o) && ((o.topK ?? 0) > 0 || (o.topP ?? 1) < 1)

/**
 * Picks a token with the uniform draw `u` and returns it with its log-probability (see
 * SamplingOptions.logprobs). Unfiltered sampling takes the first token whose float32 cumulative
 * weight exceeds u * weightSum, the same arithmetic as the graph's next_token.
 */
export function sampleToken(row: RowScores, options: SamplingOptions, u: number): Sample {
  const sampling = options.logprobs === 'sampling'
  const model = (token: number) => row.logits[token] - row.logZ
  if (isGreedy(options)) return { token: row.argmax, logprob: sampling ? 0 : model(row.argmax) }
  const w = row.weights
  if (!isFiltered(options)) {
    const target = Math.fround(Math.fround(u) * Math.fround(row.weightSum))
    let acc = 0
    let token = w.length - 1
    for (let i = 0; i < w.length; i++) {
      acc = Math.fround(acc + w[i])
      if (acc > target) { token = i; break }
    }
    return { token, logprob: sampling ? Math.log(w[token] / row.weightSum) : model(token) }
  }
  const { token, total } = sampleFiltered(w, row.weightSum, options.topK ?? 0, options.topP ?? 1, u)
  return { token, logprob: sampling ? Math.log(w[token] / total) : model(token) }
}

