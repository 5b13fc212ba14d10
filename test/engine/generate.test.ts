// KV-cache decoding against full recomputation, and the continuous-batching generator against
// one-sequence-at-a-time generation (greedy and seeded sampling), stop tokens, limits and abort.
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Generator, type GenerationRequest, type GenerationResult } from '../../gpu-worker/engine/generate.ts'
import { Engine, type ForwardInput } from '../../gpu-worker/engine/session.ts'
import { makeTinyCheckpoint } from '../../gpu-worker/engine/tiny.ts'
import { removeTempDirs, tempDir } from './helpers.ts'
import { relativeError } from './reference.ts'

let dir: string
let all: Engine // logits for every position, to compare with full recomputation
let last: Engine // the generation graph
beforeAll(async () => {
  dir = tempDir()
  makeTinyCheckpoint(join(dir, 'ckpt'), { seed: 11, numHeads: 4, numKvHeads: 2, numLayers: 2 })
  all = await Engine.load(join(dir, 'ckpt'), { cacheDir: join(dir, 'cache'), threads: 1, logits: 'all' })
  last = await Engine.load(join(dir, 'ckpt'), { cacheDir: join(dir, 'cache'), threads: 1 })
})
afterAll(async () => {
  await all?.dispose()
  await last?.dispose()
  removeTempDirs()
})

const V = () => all.config.vocabSize
const empty = () => Array.from({ length: 2 * all.config.numLayers }, () => new Float32Array(0))

describe('KV cache', () => {
  it('decoding step by step gives the logits of recomputing the whole sequence (two left-padded rows)', async () => {
    const seqs = [
      [5, 80, 13, 200, 7, 7, 9, 100, 41, 3, 250, 60],
      [17, 4, 99, 120, 33, 8, 71, 2, 19],
    ]
    const prefix = [5, 2] // tokens of each row in the prefill; both rows then decode 7 steps
    const full = await Promise.all(
      seqs.map(async (s) => {
        const out = await all.forward({ inputIds: s, batch: 1, attentionMask: s.map(() => 1), positionIds: s.map((_, i) => i), past: empty() })
        return s.map((_, j) => out.logits.subarray(j * V(), (j + 1) * V()))
      }),
    )
    const L = Math.max(...prefix)
    const prefill: ForwardInput = { inputIds: [], batch: 2, attentionMask: [], positionIds: [], past: empty() }
    seqs.forEach((s, b) => {
      const pad = L - prefix[b]
      for (let j = 0; j < L; j++) {
        ;(prefill.inputIds as number[]).push(j < pad ? 0 : s[j - pad])
        ;(prefill.attentionMask as number[]).push(j < pad ? 0 : 1)
        ;(prefill.positionIds as number[]).push(j < pad ? 1 : j - pad)
      }
    })
    let out = await all.forward(prefill)
    seqs.forEach((_, b) => {
      const row = out.logits.subarray((b * L + L - 1) * V(), (b * L + L) * V())
      expect(relativeError(row, full[b][prefix[b] - 1])).toBeLessThan(1e-5)
    })
    for (let step = 0; step < 7; step++) {
      const T = L + step + 1
      const mask = seqs.flatMap((_, b) => Array.from({ length: T }, (_, j) => (j < L - prefix[b] ? 0 : 1)))
      out = await all.forward({
        inputIds: seqs.map((s, b) => s[prefix[b] + step]),
        batch: 2,
        attentionMask: mask,
        positionIds: prefix.map((p) => p + step),
        past: out.present,
      })
      seqs.forEach((_, b) => {
        expect(relativeError(out.logits.subarray(b * V(), (b + 1) * V()), full[b][prefix[b] + step])).toBeLessThan(1e-5)
      })
    }
  })
})

/** Records every forward call's (batch, new tokens, cached tokens). */
function recordCalls(engine: Engine) {
  const calls: { B: number; S: number; P: number }[] = []
  const forward = engine.forward.bind(engine)
  engine.forward = (input) => {
    const S = input.inputIds.length / input.batch
    calls.push({ B: input.batch, S, P: input.attentionMask.length / input.batch - S })
    return forward(input)
  }
  return { calls, restore: () => (engine.forward = forward) }
}

const prompts = [[3], [10, 20, 30, 40, 50, 60, 70, 80], [7, 7], [100, 101, 102, 103, 104], [250, 1, 250, 1, 250, 1, 250, 1, 250, 1, 250, 1], [42, 43, 44], [9, 8, 7, 6, 5, 4, 3]]
const lengths = [12, 5, 20, 3, 9, 15, 7]

describe('continuous batching', () => {
  it('greedy: a batch with joins and leaves gives the tokens of one sequence at a time', async () => {
    const requests: GenerationRequest[] = prompts.map((p, i) => ({ promptIds: p, maxNewTokens: lengths[i], temperature: 0, stopTokenIds: [] }))
    const alone: GenerationResult[] = []
    const single = new Generator(last, { maxBatch: 1 })
    for (const r of requests) alone.push(await single.generate(r))

    const { calls, restore } = recordCalls(last)
    const generator = new Generator(last, { maxBatch: 3 })
    const batched = await Promise.all(requests.map((r) => generator.generate(r)))
    restore()
    for (let i = 0; i < requests.length; i++) {
      expect(batched[i].tokens).toEqual(alone[i].tokens)
      expect(batched[i].tokens).toHaveLength(lengths[i])
      expect(batched[i].finishReason).toBe('length')
      batched[i].logprobs.forEach((lp, j) => expect(lp).toBeCloseTo(alone[i].logprobs[j], 4))
    }
    // Continuous: sequences were admitted (prefills, P = 0) after decoding had started, and decode steps ran 3 at a time.
    const firstDecode = calls.findIndex((c) => c.S === 1)
    expect(calls.slice(firstDecode).filter((c) => c.P === 0).length).toBeGreaterThanOrEqual(2)
    expect(Math.max(...calls.filter((c) => c.S === 1).map((c) => c.B))).toBe(3)

    // Prompts prefilled in chunks of 3 positions (several cached steps per prompt) give the same tokens.
    const chunked = new Generator(last, { maxBatch: 4, prefillChunk: 3 })
    const chunkedResults = await Promise.all(requests.map((r) => chunked.generate(r)))
    expect(chunkedResults.map((r) => r.tokens)).toEqual(alone.map((r) => r.tokens))
  })
  it('seeded sampling: a sequence samples the same tokens alone or in a batch', async () => {
    const requests: GenerationRequest[] = prompts.map((p, i) => ({
      promptIds: p, maxNewTokens: lengths[i], temperature: 0.9, topP: 0.95, topK: 50, seed: 1000 + i, stopTokenIds: [],
    }))
    const single = new Generator(last, { maxBatch: 1 })
    const alone: GenerationResult[] = []
    for (const r of requests) alone.push(await single.generate(r))
    const generator = new Generator(last, { maxBatch: 4 })
    const batched = await Promise.all(requests.map((r) => generator.generate(r)))
    expect(batched.map((r) => r.tokens)).toEqual(alone.map((r) => r.tokens))
    // and the samples are not the greedy tokens (sampling did happen)
    const greedy = await Promise.all(requests.map((r) => generator.generate({ ...r, temperature: 0 })))
    expect(batched.map((r) => r.tokens)).not.toEqual(greedy.map((r) => r.tokens))
  })

  it('stops after a stop token (included), at max new tokens, and on abort', async () => {
    const generator = new Generator(last, { maxBatch: 4 })
    const free = await generator.generate({ promptIds: prompts[1], maxNewTokens: 10, temperature: 0, stopTokenIds: [] })
    const stopToken = free.tokens[6]
    const first = free.tokens.indexOf(stopToken) // generation stops at its first occurrence
    const controller = new AbortController()
    let seen = 0
    const [stopped, limited, aborted] = await Promise.all([
      generator.generate({ promptIds: prompts[1], maxNewTokens: 10, temperature: 0, stopTokenIds: [stopToken] }),
      generator.generate({ promptIds: prompts[1], maxNewTokens: 4, temperature: 0, stopTokenIds: [] }),
      generator.generate({
        promptIds: prompts[1], maxNewTokens: 10, temperature: 0, stopTokenIds: [], signal: controller.signal,
        onToken: () => { if (++seen === 3) controller.abort() },
      }),
    ])
    expect(stopped).toMatchObject({ tokens: free.tokens.slice(0, first + 1), finishReason: 'stop' })
    expect(limited).toMatchObject({ tokens: free.tokens.slice(0, 4), finishReason: 'length' })
    expect(aborted).toMatchObject({ tokens: free.tokens.slice(0, 3), finishReason: 'abort' })
    const early = new AbortController()
    early.abort()
    expect(await generator.generate({ promptIds: prompts[1], maxNewTokens: 10, signal: early.signal })).toEqual({ tokens: [], logprobs: [], finishReason: 'abort' })
    // By default a sequence stops at the checkpoint's eos ids: <|im_end|> (config) and <|endoftext|> (generation_config).
    expect(last.checkpoint.stopTokenIds).toEqual([258, 256])
  })
})
