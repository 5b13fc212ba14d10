// KV-cache decoding against full recomputation, the cache written in place, and the
// continuous-batching generator against one-sequence-at-a-time generation (greedy and seeded
// sampling), the graph's own draw against the host sampler, stop tokens, limits and abort.
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Generator, type GenerationRequest, type GenerationResult } from '../../gpu-worker/engine/generate.ts'
import { Engine } from '../../gpu-worker/engine/session.ts'
import { makeTinyCheckpoint } from '../../gpu-worker/engine/tiny.ts'
import { removeTempDirs, tempDir } from './helpers.ts'
import { TEST_ENGINE } from '../helpers/engine.ts'

let dir: string
let all: Engine // logits for every position, to compare with full recomputation
let last: Engine // the generation graph
beforeAll(async () => {
  dir = tempDir()
  makeTinyCheckpoint(join(dir, 'ckpt'), { seed: 11, numHeads: 4, numKvHeads: 2, numLayers: 2 })
  all = await Engine.load(join(dir, 'ckpt'), { ...TEST_ENGINE, cacheDir: join(dir, 'cache'), logits: 'all' })
  last = await Engine.load(join(dir, 'ckpt'), { ...TEST_ENGINE, cacheDir: join(dir, 'cache') })
})
afterAll(async () => {
  await all?.dispose()
  await last?.dispose()
  removeTempDirs()
})

const logSoftmax = (logits: Float32Array, token: number) => {
  const top = Math.max(...logits)
  return logits[token] - top - Math.log(logits.reduce((s, v) => s + Math.exp(v - top), 0))
}

describe('KV cache', () => {
  it("decoding in place gives the logits of recomputing the whole sequence, with a second row joining and leaving", async () => {
    const generator = new Generator(last, { maxBatch: 2 })
    const [a, b] = await Promise.all([
      generator.generate({ promptIds: [5, 80, 13, 200, 7], maxNewTokens: 9, temperature: 0, stopTokenIds: [] }),
      generator.generate({ promptIds: [17, 4], maxNewTokens: 3, temperature: 0, stopTokenIds: [] }),
    ])
    for (const [prompt, result] of [[[5, 80, 13, 200, 7], a], [[17, 4], b]] as const) {
      const [full] = await all.promptLogits([[...prompt, ...result.tokens]])
      result.tokens.forEach((token, j) => {
        const logits = full[prompt.length - 1 + j]
        expect(token).toBe(logits.indexOf(Math.max(...logits)))
        expect(Math.abs(result.logprobs[j] - logSoftmax(logits, token))).toBeLessThan(1e-4)
      })
    }
  })

  it("a row's cache is written in place: others joining and leaving neither move nor change it", async () => {
    const generator = new Generator(last, { maxBatch: 4 })
    let buffer: Float32Array | null = null
    let snapshot: Float32Array | null = null
    const slot0 = () => (generator.cache.tensors(0, 1).past[0][1] as { data: Float32Array }).data
    const { numKvHeads: KV, headDim: D } = last.config
    const firstPositions = () => {
      const data = slot0()
      return Float32Array.from({ length: KV * 6 * D }, (_, i) => data[Math.floor(i / (6 * D)) * generator.cache.width * D + (i % (6 * D))])
    }
    const long = generator.generate({
      promptIds: [1, 2, 3, 4, 5, 6], maxNewTokens: 20, temperature: 0, stopTokenIds: [],
      onToken: (_, __) => {
        if (buffer === null) { buffer = slot0(); snapshot = firstPositions() }
      },
    })
    // two rows join while the first decodes, and leave before it ends
    await new Promise((r) => setTimeout(r, 0))
    await Promise.all([9, 10].map((t) => generator.generate({ promptIds: [t, t, t], maxNewTokens: 4, temperature: 0, stopTokenIds: [] })))
    await long
    expect(slot0().buffer).toBe(buffer!.buffer) // never reallocated, so nothing was copied
    expect([...firstPositions()]).toEqual([...snapshot!]) // its prompt's keys untouched
  })
})

/** Records every run's (batch, new tokens) and whether it was a prefill (a run whose seqlens_k start at its own tokens). */
function recordCalls(engine: Engine) {
  const calls: { B: number; S: number; prefill: boolean }[] = []
  const run = engine.run.bind(engine)
  engine.run = (inputs, outputs) => {
    const [B, S] = (inputs.find(([n]) => n === 'input_ids')![1]).dims
    const seqlens = (inputs.find(([n]) => n === 'seqlens_k')![1] as { data: Int32Array }).data
    calls.push({ B, S, prefill: seqlens[0] + 1 === S })
    return run(inputs, outputs)
  }
  return { calls, restore: () => (engine.run = run) }
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
    // Continuous: sequences were admitted (prefills) after decoding had started, and decode steps ran 3 at a time.
    const firstDecode = calls.findIndex((c) => !c.prefill)
    expect(calls.slice(firstDecode).filter((c) => c.prefill).length).toBeGreaterThanOrEqual(2)
    expect(Math.max(...calls.filter((c) => !c.prefill).map((c) => c.B))).toBe(3)

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

  it("the graph's own draw (the device path: nothing of size V leaves the session) gives the host sampler's tokens", async () => {
    const settings: Partial<GenerationRequest>[] = [{ temperature: 0 }, { temperature: 1 }, { temperature: 0.7 }, { temperature: 0.8, topP: 0.9 }]
    const requests: GenerationRequest[] = prompts.map((p, i) => ({ promptIds: p, maxNewTokens: lengths[i], stopTokenIds: [], seed: 77 + i, logprobs: 'sampling', ...settings[i % 4] }))
    // the draw is built where the engine samples in the graph (CUDA by default); here on purpose
    const drawing = await Engine.load(join(dir, 'ckpt'), { ...TEST_ENGINE, cacheDir: join(dir, 'cache'), graphDraw: true })
    try {
      const run = (engine: Engine, sampling: 'host' | 'graph', maxBatch: number) => {
        const generator = new Generator(engine, { maxBatch, sampling })
        return Promise.all(requests.map((r) => generator.generate(r)))
      }
      // the host sampler on the CPU default graph (no draw) and on the drawing one, and the graph's draw
      const [host, hostDrawing, graph, graphAlone] = [await run(last, 'host', 3), await run(drawing, 'host', 3), await run(drawing, 'graph', 3), await run(drawing, 'graph', 1)]
      expect(hostDrawing.map((r) => r.tokens)).toEqual(host.map((r) => r.tokens))
      expect(graph.map((r) => r.tokens)).toEqual(host.map((r) => r.tokens))
      expect(graphAlone.map((r) => r.tokens)).toEqual(host.map((r) => r.tokens))
      graph.forEach((r, i) => r.logprobs.forEach((lp, j) => expect(lp).toBeCloseTo(host[i].logprobs[j], 5)))
    } finally {
      await drawing.dispose()
    }
    expect(last.graphDraw).toBe(false)
    expect(() => new Generator(last, { sampling: 'graph' })).toThrow(/needs an engine built with its draw/)
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
