// The sampler on hand-made logits: distributions at a temperature, top-k, top-p, greedy, logprobs;
// and, at the real vocabulary size, the bucketed top-k / top-p against a plain sort, and the native
// sampler against its plain reference.
import { describe, expect, it } from 'vitest'
import { sampleFiltered } from '../../gpu-worker/engine/native.ts'
import { type RowScores, type SamplingOptions, sampleToken, seededRandom } from '../../gpu-worker/engine/sampling.ts'
import { referenceSampleFiltered } from './sampling-reference.ts'

/** What the serving graph's sampling head computes for one row (qwen3.ts samplingHead), in plain TypeScript. */
function scores(logits: Float32Array, temperature: number): RowScores {
  const max = logits.reduce((a, b) => Math.max(a, b), -Infinity)
  const inverse = temperature === 0 ? 0 : Math.fround(1 / temperature)
  const weights = Float32Array.from(logits, (v) => Math.exp((v - max) * inverse))
  const weightSum = weights.reduce((a, b) => a + b, 0)
  const logZ = max + Math.log(logits.reduce((s, v) => s + Math.exp(v - max), 0))
  return { logits, weights, weightSum, logZ, argmax: logits.indexOf(max) }
}
const draw = (logits: Float32Array, options: SamplingOptions, random: () => number) =>
  sampleToken(scores(logits, options.temperature ?? 1), options, random())

const logits = Float32Array.from([2, 1.5, 0.3, -1, 0.9, 1.4])
const softmax = (x: ArrayLike<number>, t = 1) => {
  const e = Array.from(x, (v) => Math.exp(v / t))
  const z = e.reduce((a, b) => a + b, 0)
  return e.map((v) => v / z)
}

function frequencies(options: SamplingOptions, draws = 40000) {
  const random = seededRandom(7)
  const counts = new Array(logits.length).fill(0)
  for (let i = 0; i < draws; i++) counts[draw(logits, options, random).token]++
  return counts.map((c) => c / draws)
}

describe('sampleToken', () => {
  it('returns the log-softmax of the raw logits as logprob, whatever the temperature', () => {
    const p = softmax(logits)
    const s = draw(logits, { temperature: 0.3, topK: 3 }, seededRandom(1))
    expect(s.logprob).toBeCloseTo(Math.log(p[s.token]), 6)
  })

  it("with logprobs: 'sampling', returns the log-probability under the filtered, tempered distribution", () => {
    const p = softmax(logits, 0.5)
    const kept = p[0] + p[1] + p[5]
    for (let seed = 0; seed < 5; seed++) {
      const s = draw(logits, { temperature: 0.5, topK: 3, logprobs: 'sampling' }, seededRandom(seed))
      expect(s.logprob).toBeCloseTo(Math.log(p[s.token] / kept), 6)
    }
    expect(draw(logits, { temperature: 0, logprobs: 'sampling' }, seededRandom(1)).logprob).toBe(0)
    const t1 = draw(logits, { logprobs: 'sampling' }, seededRandom(2))
    expect(t1.logprob).toBeCloseTo(Math.log(softmax(logits)[t1.token]), 6)
  })

  it('greedy (temperature 0 or top-k 1) takes the argmax', () => {
    expect(draw(logits, { temperature: 0 }, seededRandom(1)).token).toBe(0)
    expect(draw(logits, { topK: 1 }, seededRandom(1)).token).toBe(0)
  })

  it('samples softmax(logits / temperature)', () => {
    for (const temperature of [1, 0.5]) {
      const expected = softmax(logits, temperature)
      frequencies({ temperature }).forEach((f, i) => expect(Math.abs(f - expected[i])).toBeLessThan(0.01))
    }
  })

  it('top-k keeps the k most likely tokens, renormalised', () => {
    const p = softmax(logits)
    const kept = [0, 1, 5]
    const z = kept.reduce((s, i) => s + p[i], 0)
    frequencies({ topK: 3 }).forEach((f, i) => expect(Math.abs(f - (kept.includes(i) ? p[i] / z : 0))).toBeLessThan(0.01))
  })

  it('top-p keeps the smallest most-likely set reaching p', () => {
    const p = softmax(logits) // sorted: 0 (.32), 1 (.19), 5 (.18), 4 (.11), 2 (.06), 3 (.02)
    const kept = [0, 1, 5] // .32 + .19 < .6 <= .32 + .19 + .18
    const z = kept.reduce((s, i) => s + p[i], 0)
    frequencies({ topP: 0.6 }).forEach((f, i) => expect(Math.abs(f - (kept.includes(i) ? p[i] / z : 0))).toBeLessThan(0.01))
    // with top-k first, top-p works inside the k tokens
    const pk = [p[0], p[1]].map((v) => v / (p[0] + p[1]))
    frequencies({ topK: 2, topP: 0.5 }).forEach((f, i) => expect(f).toBeCloseTo(i === 0 && pk[0] >= 0.5 ? 1 : 0, 5))
  })

  it('bucketed top-k / top-p keep the sets a full sort keeps, at vocabulary 151936', () => {
    const V = 151936
    const random = seededRandom(21)
    for (let trial = 0; trial < 6; trial++) {
      // a peaked head over a flat tail, as real models give, and one flat row as random models give
      const spread = trial === 0 ? 0.05 : 3
      const row = Float32Array.from({ length: V }, (_, i) => spread * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()) + (i % 977 === 0 ? 8 : 0))
      const options: SamplingOptions = [{ topK: 40 }, { topP: 0.9 }, { topK: 200, topP: 0.5 }, { topP: 0.99 }, { topK: 5000 }, { topP: 0.3 }][trial]
      const s = scores(row, 1)
      const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => s.weights[b] - s.weights[a] || a - b)
      const pool = options.topK ? order.slice(0, options.topK) : order
      const poolTotal = options.topK ? pool.reduce((t, i) => t + s.weights[i], 0) : s.weightSum
      let acc = 0
      const nucleus = (options.topP ?? 1) < 1 ? pool.slice(0, pool.findIndex((i) => (acc += s.weights[i]) >= options.topP! * poolTotal) + 1) : pool
      const expected = new Set(nucleus)
      // every draw lands in the reference's set, and across draws the kept set is covered by the heaviest first
      for (let k = 0; k < 20; k++) expect(expected.has(sampleToken(s, options, random()).token), JSON.stringify(options)).toBe(true)
      const total = nucleus.reduce((t, i) => t + s.weights[i], 0)
      const sampled = sampleToken(s, { ...options, logprobs: 'sampling' }, 0.999999)
      expect(sampled.logprob).toBeCloseTo(Math.log(s.weights[sampled.token] / total), 6)
    }
  })

  it('the native top-k / top-p sampler gives the plain reference\'s token and kept total, bit for bit', () => {
    const V = 151936
    const random = seededRandom(5)
    const cases: SamplingOptions[] = [{ topK: 50 }, { topP: 0.9 }, { topK: 50, topP: 0.95 }, { topK: 1000, topP: 0.5 }, { topP: 0.999 }, { topK: V + 10 }, { topK: 3, topP: 0.2 }]
    let checked = 0
    for (const [trial, spread] of [0.05, 1, 4].entries()) {
      // ties too: every 977th weight is the same large one
      const row = scores(Float32Array.from({ length: V }, (_, i) => (i % 977 === 0 ? 8 : spread * (random() + random() + random() - 1.5))), 0.7 + trial * 0.3)
      for (const options of cases) {
        for (const u of [0, 1e-9, random(), random(), 0.5, 0.999999, 1 - 2 ** -53]) {
          const expected = referenceSampleFiltered(row.weights, row.weightSum, options.topK ?? 0, options.topP ?? 1, u)
          expect(sampleFiltered(row.weights, row.weightSum, options.topK ?? 0, options.topP ?? 1, u), `${JSON.stringify(options)} u=${u}`).toEqual(expected)
          checked++
        }
      }
      // and the engine's sampler is the native one: its token and 'sampling' logprob are the reference's
      const u = random()
      const expected = referenceSampleFiltered(row.weights, row.weightSum, 40, 0.9, u)
      expect(sampleToken(row, { topK: 40, topP: 0.9, logprobs: 'sampling' }, u)).toEqual({ token: expected.token, logprob: Math.log(row.weights[expected.token] / expected.total) })
    }
    expect(checked).toBe(3 * cases.length * 7)
  })

  it('seeded generators repeat, and differ between seeds', () => {
    const a = seededRandom(3), b = seededRandom(3), c = seededRandom(4)
    const xs = Array.from({ length: 5 }, () => a())
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs)
    expect(Array.from({ length: 5 }, () => c())).not.toEqual(xs)
    const r = seededRandom(9)
    const mean = Array.from({ length: 100000 }, () => r()).reduce((s, v) => s + v, 0) / 100000
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.005)
  })
})
