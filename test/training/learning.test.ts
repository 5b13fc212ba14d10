// The learning check (issue 5): one-digit arithmetic that only the environment can answer (a real
// OpenAI-compatible HTTP server computing the expression in the prompt it receives), a tiny random
// Qwen3 agent, a supervised warm-start on demonstrations that teaches the format but answers with a
// random one of the environment's numbers, then GRPO. The reward of the last steps must be clearly
// above that of the first ones. Seeded: the same run every time (with learning rate 0 the reward
// stays at ~0.33; see docs/training.md).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import { OpenAIEnvironment } from '../../shared/protocol/environment.ts'
import { firstTurnText } from '../../shared/protocol/template.ts'
import { ChatTokenizer } from '../../shared/protocol/tokenizer.ts'
import { openCheckpoint } from '../../gpu-worker/engine/checkpoint.ts'
import {
  ARITHMETIC_PROTOCOL, arithmeticDemonstrations, arithmeticOptions, makeArithmeticAgent, trainArithmetic,
} from '../../gpu-worker/training/arithmetic-task.ts'
import { arithmeticRows } from '../../datasets/builtin.ts'
import { recordDemonstrations } from '../../gpu-worker/training/demonstrations.ts'
import { GrpoTrainer } from '../../gpu-worker/training/grpo.ts'
import { type DeterministicArithmeticEnv, startDeterministicArithmeticEnv } from '../protocol/deterministic-arithmetic-env.ts'
import { removeTempDirs, tempDir } from './helpers.ts'

let server: DeterministicArithmeticEnv
let environment: OpenAIEnvironment
beforeAll(async () => {
  server = await startDeterministicArithmeticEnv()
  environment = new OpenAIEnvironment({ baseURL: server.baseURL, apiKey: 'test', model: 'arithmetic', policy: { allowLoopback: true } })
})
afterAll(async () => {
  await server.close()
  removeTempDirs()
})

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length

describe('demonstrations', () => {
  it('are played through the episode runner: written turns have mask 1, the environment feedback mask 0', async () => {
    const dir = tempDir()
    makeArithmeticAgent(dir)
    const tokenizer = await ChatTokenizer.fromFolder(dir)
    const [row] = arithmeticRows().filter((r) => r.question === '7 - 3')
    const requests = server.requests.length
    const [demo] = await recordDemonstrations({
      tokenizer, environment, options: ARITHMETIC_PROTOCOL, userContents: [row.content],
      write: (context) => (context.split('<|im_start|>assistant').length > 2 ? '</think><answer>4</answer>' : '<think></think><interaction_prompt>{"name": "prompt", "arguments": {"prompt": "7 - 3"}}</interaction_prompt>'),
    })
    expect(server.requests.length).toBe(requests + 1)
    expect(server.requests.at(-1)!.messages.at(-1)!.content).toBe('7 - 3')
    const response = demo.tokens.slice(demo.promptLength)
    const text = (mask: number) => tokenizer.decode(response.map((id, i) => (demo.lossMask[i] === mask ? id : -1)).filter((id) => id >= 0))
    expect(text(1)).toBe('<think></think><interaction_prompt>{"name": "prompt", "arguments": {"prompt": "7 - 3"}}</interaction_prompt><|im_end|></think><answer>4</answer><|im_end|>')
    expect(text(0)).toBe('\n<|im_start|>user\n<interaction_response>\n{"results": ["7 - 3 = 4"]}\n</interaction_response><|im_end|>\n<|im_start|>assistant\n<think>\n')
    // The protocol's fixed texts are single tokens of the agent's tokenizer: the prompt is short.
    expect(demo.promptLength).toBeLessThan(50)
    expect(tokenizer.decode(demo.tokens.slice(0, demo.promptLength))).toBe(firstTurnText(row.content))
  })

  it('answer each question once with each number of the environment\'s answer', async () => {
    const dir = tempDir()
    makeArithmeticAgent(dir)
    const tokenizer = await ChatTokenizer.fromFolder(dir)
    const rows = arithmeticRows().filter((r) => r.question === '2 + 5')
    const demos = await arithmeticDemonstrations(tokenizer, environment, rows)
    expect(demos.map((d) => /<answer>(\d)<\/answer>/.exec(tokenizer.decode(d.tokens))![1])).toEqual(['2', '5', '7'])
  })
})

describe('learning', () => {
  it('warm-start then GRPO: the agent learns to answer with the environment\'s result', async () => {
    const warm: number[] = []
    const rewards: number[] = []
    const store = new LocalBlobStore(tempDir())
    const dir = tempDir()
    const { trainer, base, tokenizer } = await trainArithmetic({
      baseDir: join(dir, 'base'), workDir: join(dir, 'work'), environment, checkpoints: { store, prefix: 'run' },
      onWarmStartStep: (_, m) => { warm.push(m.nll) },
      onStep: (_, m) => { rewards.push(m.reward_mean) },
    })
    await trainer.dispose()
    const { warmStart, steps } = arithmeticOptions()
    expect(warm).toHaveLength(warmStart!.steps)
    expect(rewards).toHaveLength(steps)
    // The warm-start learns the format: the NLL falls to about the entropy of the 3-way answer pick.
    expect(mean(warm.slice(-5))).toBeLessThan(0.2 * warm[0])
    const [first, last] = [mean(rewards.slice(0, 5)), mean(rewards.slice(-5))]
    console.log(`learning: warm-start NLL ${warm[0].toFixed(3)} -> ${warm.at(-1)!.toFixed(3)}; reward of the first 5 steps ${first.toFixed(3)}, of the last 5 ${last.toFixed(3)}`)
    // Before any GRPO update the agent is right about a third of the time (more where numbers coincide).
    expect(rewards[0]).toBeLessThan(0.6)
    expect(last).toBeGreaterThan(first + 0.25)
    expect(last).toBeGreaterThan(0.6)

    // A warm-start configuration without demonstrations is refused...
    let replayed = 0
    const refused = await GrpoTrainer.create({
      base: openCheckpoint(base.dir), tokenizer, environment, data: arithmeticRows(), demonstrations: [],
      options: arithmeticOptions(), workDir: join(dir, 'work2'), checkpoints: { store, prefix: 'run' }, onWarmStartStep: () => { replayed++ },
    }).catch((error: Error) => error)
    expect(refused).toBeInstanceOf(Error)
    const again = await GrpoTrainer.create({
      base: openCheckpoint(base.dir), tokenizer, environment, data: arithmeticRows(), demonstrations: [{ tokens: [1, 2], promptLength: 1, lossMask: [1] }],
      options: arithmeticOptions(), workDir: join(dir, 'work2'), checkpoints: { store, prefix: 'run' }, onWarmStartStep: () => { replayed++ },
    })
    // ...and a resumed run continues after the last checkpoint without playing the warm-start again.
    expect(again.step).toBe(steps)
    await again.run()
    expect(replayed).toBe(0)
    for (const [name, v] of trainer.model.params) expect(Buffer.from(again.model.params.get(name)!.buffer).equals(Buffer.from(v.buffer)), name).toBe(true)
    await again.dispose()
  }, 300_000)
})
