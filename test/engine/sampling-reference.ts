// The plain reference of the native top-k / top-p sampler (gpu-worker/engine/native/sampling.cc):
// the same algorithm in JavaScript, with the same float64 arithmetic in the same order, so the
// native sampler must give the same token and kept total for every row and draw. It was the
// engine's own sampler before the native one (41 ms of a 260 ms decode step at batch 32).

/** The kept token for the draw `u` and the kept set's total weight. */
export function referenceSampleFiltered(w: Float32Array, weightSum: number, topK: number, topP: number, u: number): { token: number; total: number } {
  const bits = new Uint32Array(w.buffer, w.byteOffset, w.length)
  const kept = keptTokens(w, bits, weightSum, topK, topP)
  return { token: drawKept(w, bits, kept, u), total: kept.total }
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
