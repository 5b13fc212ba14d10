// Means with 95% percentile-bootstrap confidence intervals. The eval sets have 128 rows, so one
// row moves a score 0.78 points: an interval says whether a difference is more than noise. The
// resampling is seeded, so the same rows always give the same interval.

export interface Estimate {
  mean: number
  /** 95% interval [low, high] from the bootstrap percentiles; [mean, mean] for fewer than 2 rows. */
  ci: [number, number]
}

export const CONFIDENCE = 0.95

/** mulberry32: a small seeded generator, enough for resampling indices. */
export function seededUniform(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

export const mean = (values: number[]) => (values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length)

/**
 * The mean of the group means (one group: the plain mean), with an interval from resampling rows
 * within each group independently: how the average over datasets of the paper's table varies.
 */
export function bootstrapMeanOfMeans(groups: number[][], resamples: number, seed = 0): Estimate {
  const nonEmpty = groups.filter((g) => g.length > 0)
  const point = mean(nonEmpty.map(mean))
  if (nonEmpty.every((g) => g.length < 2)) return { mean: point, ci: [point, point] }
  const random = seededUniform(seed)
  const estimates = new Float64Array(resamples)
  for (let b = 0; b < resamples; b++) {
    let total = 0
    for (const group of nonEmpty) {
      let sum = 0
      for (let i = 0; i < group.length; i++) sum += group[Math.floor(random() * group.length)]
      total += sum / group.length
    }
    estimates[b] = total / nonEmpty.length
  }
  estimates.sort()
  const at = (q: number) => estimates[Math.min(resamples - 1, Math.max(0, Math.round(q * (resamples - 1))))]
  return { mean: point, ci: [at((1 - CONFIDENCE) / 2), at(1 - (1 - CONFIDENCE) / 2)] }
}

export const bootstrapMean = (values: number[], resamples: number, seed = 0) => bootstrapMeanOfMeans([values], resamples, seed)

/** Paired difference a - b over the same rows: resampling rows keeps each pair together. */
export function bootstrapPairedDifference(a: number[], b: number[], resamples: number, seed = 0): Estimate {
  if (a.length !== b.length) throw new Error(`paired samples differ in length: ${a.length} and ${b.length}`)
  return bootstrapMean(a.map((x, i) => x - b[i]), resamples, seed)
}

export function percentile(values: number[], q: number): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((x, y) => x - y)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}
