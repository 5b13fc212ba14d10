// The engine as the protocol's Policy: seeded rollouts repeat, stop ids are honoured, and the
// episode runner (shared/protocol) runs on it with a tiny checkpoint and its byte-level tokenizer.
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ChatTokenizer, type Environment, TRAINING_OPTIONS, runEpisodes } from '../../shared/protocol/index.ts'
import { Generator } from '../../gpu-worker/engine/generate.ts'
import { EnginePolicy } from '../../gpu-worker/engine/policy.ts'
import { Engine } from '../../gpu-worker/engine/session.ts'
import { makeTinyCheckpoint } from '../../gpu-worker/engine/tiny.ts'
import { removeTempDirs, tempDir } from './helpers.ts'

let dir: string
let engine: Engine
beforeAll(async () => {
  dir = tempDir()
  makeTinyCheckpoint(join(dir, 'ckpt'), { seed: 31 })
  engine = await Engine.load(join(dir, 'ckpt'), { cacheDir: join(dir, 'cache'), threads: 1 })
})
afterAll(async () => {
  await engine?.dispose()
  removeTempDirs()
})

describe('EnginePolicy', () => {
  it('repeats a seeded rollout, differs across seeds, and honours stop ids', async () => {
    const generator = new Generator(engine, { maxBatch: 4 })
    const contexts = [{ tokens: [257, 10, 20] }, { tokens: [30, 40, 50, 60] }, { tokens: [70] }]
    const run = (seed: number, stopTokenIds: number[] = []) => new EnginePolicy(generator, { temperature: 1, seed }).generate(contexts, { maxNewTokens: 12, stopTokenIds })
    const [a, b, c] = [await run(1), await run(1), await run(2)]
    expect(a).toEqual(b)
    expect(a.map((t) => t.tokens)).not.toEqual(c.map((t) => t.tokens))
    for (const turn of a) expect(turn.logprobs).toHaveLength(turn.tokens.length)
    const stop = a[1].tokens[4]
    const stopped = await run(1, [stop])
    expect(stopped[1].tokens).toEqual(a[1].tokens.slice(0, a[1].tokens.indexOf(stop) + 1))
    // greedy: the sampling distribution is a point mass
    const greedy = await new EnginePolicy(generator, { temperature: 0 }).generate(contexts, { maxNewTokens: 3, stopTokenIds: [] })
    expect(greedy.flatMap((t) => t.logprobs)).toEqual(new Array(9).fill(0))
  })

  it('drives the protocol episode runner', async () => {
    const tokenizer = await ChatTokenizer.fromFolder(join(dir, 'ckpt'))
    const environment: Environment = { complete: async () => ({ content: '5', usage: { promptTokens: 1, completionTokens: 1 } }) }
    const policy = new EnginePolicy(new Generator(engine), { temperature: 1, seed: 7 })
    const { trajectories } = await runEpisodes({
      policy, environment, tokenizer, userContents: ['Question: 2+3?', 'Question: 4+4?'],
      options: { ...TRAINING_OPTIONS, maxTurns: 2, maxNewTokensPerTurn: 16 },
    })
    expect(trajectories).toHaveLength(2)
    for (const t of trajectories) {
      const sampled = t.lossMask.filter((m) => m === 1).length
      expect(sampled).toBeGreaterThan(0)
      expect(t.tokens.length).toBe(t.promptLength + t.lossMask.length)
      t.logprobs.forEach((lp, i) => (t.lossMask[i] === 1 ? expect(lp).toBeLessThanOrEqual(0) : expect(lp).toBe(0)))
    }
  })
})
