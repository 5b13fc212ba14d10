// Token sampling from one row of the serving graph's outputs (qwen3.ts, samplingHead): greedy,
// temperature, top-k, top-p, with one seeded generator per sequence (so a sequence's samples do not
// depend on what else is in the batch). The graph has done the work over the vocabulary (the
// argmax, log Z and the tempered weights); what is left here is a walk over the weights, or, for
// top-k / top-p, one pass that buckets them by their float32 exponent, so that only the tokens of
// the boundary bucket are ever sorted, and a draw that walks the kept set without listing it. No
// exp or log runs per vocabulary entry.

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
  const bits = new Uint32Array(w.buffer, w.byteOffset, w.length)
  const kept = keptTokens(w, bits, row.weightSum, options.topK ?? 0, options.topP ?? 1)
  const token = drawKept(w, bits, kept, u)
  return { token, logprob: sampling ? Math.log(w[token] / kept.total) : model(token) }
}

/**
 * Bucket of a non-negative float32 weight: its exponent and the top 8 bits of its mantissa (a larger
 * bucket holds larger weights), fine enough that the one bucket a cut falls in is small to sort
 * even when the weights are nearly flat.
 */
const BUCKET_SHIFT = 15
const BUCKETS = 1 << 16
// reused by every call (a call runs to its end before another starts)
const COUNT = new Float64Array(BUCKETS)
const MASS = new Float64Array(BUCKETS)

/**
 * The set top-k and then top-p keep, without listing it (at a flat distribution it is most of the
 * vocabulary): every token of a bucket above `above`, and `extra` (ids in increasing order, all of
 * bucket `above` or below), with their total weight.
 */
interface Kept { above: number; extra: Int32Array; total: number }

/**
 * The k heaviest (ties to the lower id), then the smallest heaviest set whose share of the k reaches
 * topP. Only the bucket where a cut falls is sorted.
 */
function keptTokens(w: Float32Array, bits: Uint32Array, weightSum: number, topK: number, topP: number): Kept {
  const count = COUNT.fill(0)
  const mass = MASS.fill(0)
  for (let i = 0; i < w.length; i++) {
    const b = bits[i] >>> BUCKET_SHIFT
    count[b]++
    mass[b] += w[i]
  }
  // The top-k pool: the buckets above `edge` whole, and the heaviest members of bucket `edge`.
  let edge = -1
  let edgeMembers: number[] = []
  if (topK > 0 && topK < w.length) {
    let taken = 0
    for (let b = BUCKETS - 1; b >= 0; b--) {
      if (taken + count[b] >= topK) {
        edge = b
        edgeMembers = sortedBucket(w, bits, b).slice(0, topK - taken)
        break
      }
      taken += count[b]
    }
  }
  let poolTotal = edge < 0 ? weightSum : edgeMembers.reduce((s, i) => s + w[i], 0)
  if (edge >= 0) for (let b = BUCKETS - 1; b > edge; b--) poolTotal += mass[b]
  if (topP >= 1) return { above: edge, extra: Int32Array.from(edgeMembers).sort(), total: poolTotal }
  // The nucleus: heaviest first until its weight reaches topP of the pool's. The bucket where that
  // happens is the only one sorted.
  const goal = topP * poolTotal
  let above = edge
  let acc = 0
  for (let b = BUCKETS - 1; b > edge; b--) {
    if (acc + mass[b] >= goal) { above = b; break }
    acc += mass[b]
  }
  const boundary: number[] = []
  for (const i of above === edge ? edgeMembers : sortedBucket(w, bits, above)) {
    boundary.push(i)
    acc += w[i]
    if (acc >= goal) break
  }
  return { above, extra: Int32Array.from(boundary).sort(), total: acc }
}

/** The kept token where the cumulative weight, walked in vocabulary order, passes u * total: one pass, stopping there. */
function drawKept(w: Float32Array, bits: Uint32Array, kept: Kept, u: number): number {
  const { above, extra } = kept
  let target = u * kept.total
  let e = 0
  let last = -1
  for (let i = 0; i < w.length; i++) {
    // extra holds no token of a bucket above `above`, so its pointer moves only on its own ids
    if ((bits[i] >>> BUCKET_SHIFT) > above || (e < extra.length && extra[e] === i && ++e)) {
      last = i
      target -= w[i]
      if (target < 0) return i
    }
  }
  return last // rounding left target at 0 or above: the last kept token
}

/** The tokens of bucket b, heaviest first, ties to the lower id. */
function sortedBucket(w: Float32Array, bits: Uint32Array, b: number): number[] {
  const members: number[] = []
  for (let i = 0; i < w.length; i++) if (bits[i] >>> BUCKET_SHIFT === b) members.push(i)
  return members.sort((x, y) => w[y] - w[x] || x - y)
}
