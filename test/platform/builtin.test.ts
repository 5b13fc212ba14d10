// The built-in parts of the demo: the arithmetic environment (the same answers as its HTTP twin),
// the sample agent builtin:arithmetic-agent (the same weights wherever it is made), the arithmetic
// set, and what the API accepts and refuses when a job or a chat names them.
import { createHash } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { makeArithmeticAgent, sampleAgent } from '../../gpu-worker/training/arithmetic-task.ts'
import type { AgentRequest, AgentService } from '../../shared/agents.ts'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import type { OpenDatabase } from '../../shared/db/database.ts'
import { DEMO_TRAINING_JOB } from '../../shared/demo.ts'
import { ArithmeticEnvironment } from '../../shared/protocol/builtin-environment.ts'
import { OpenAIEnvironment } from '../../shared/protocol/environment.ts'
import { expectApiError, testApp } from '../helpers/app.ts'
import { describePostgres, freshPostgres } from '../helpers/databases.ts'
import { removeTempDirs, tempDir } from '../helpers/temp.ts'
import { startDeterministicArithmeticEnv } from '../protocol/deterministic-arithmetic-env.ts'

afterAll(removeTempDirs)

it('the built-in arithmetic environment answers as its HTTP twin does, usage included', async () => {
  const server = await startDeterministicArithmeticEnv()
  try {
    const http = new OpenAIEnvironment({ baseURL: server.baseURL, apiKey: 'test', model: 'arithmetic', policy: { allowLoopback: true } })
    const builtin = new ArithmeticEnvironment()
    for (const prompt of ['7 - 3', 'What is 12 * 3?', '9 / 2', 'Reply with OK.', '']) {
      const messages = [{ role: 'system' as const, content: 'You compute.' }, { role: 'user' as const, content: prompt }]
      expect(await builtin.complete(messages), prompt).toEqual(await http.complete(messages))
    }
  } finally {
    await server.close()
  }
})

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex')

const sampleCache = tempDir()

it('makes the sample agent once per cache, with the same weights wherever it is made, warm-started from the untrained agent', async () => {
  const [first, second] = [sampleCache, tempDir()]
  const made = await sampleAgent(first)
  const madeAt = statSync(join(made, 'model.safetensors')).mtimeMs
  expect(await sampleAgent(first)).toBe(made)
  expect(statSync(join(made, 'model.safetensors')).mtimeMs).toBe(madeAt)
  expect(sha256(join(await sampleAgent(second), 'model.safetensors'))).toBe(sha256(join(made, 'model.safetensors')))
  const untrained = tempDir()
  makeArithmeticAgent(untrained)
  expect(sha256(join(untrained, 'model.safetensors'))).not.toBe(sha256(join(made, 'model.safetensors')))
  for (const file of ['tokenizer.json', 'tokenizer_config.json']) expect(readFileSync(join(made, file), 'utf8')).toBe(readFileSync(join(untrained, file), 'utf8'))
}, 120_000)

describePostgres('the API with the built-in environment, agent and set', () => {
  let database: OpenDatabase
  let t: Awaited<ReturnType<typeof testApp>>
  const asked: AgentRequest[] = []
  // records what the edge hands the agents; answers at once
  const agents: AgentService = {
    models: async () => [{ id: 'agent', created: 0, ownedBy: 'test' }],
    hasModel: async () => true,
    run: async (request) => {
      asked.push(request)
      request.onAccepted?.()
      return { answer: '7', turns: [], endReason: 'answer', usage: { agent: { promptTokens: 1, completionTokens: 1 }, environment: { promptTokens: 0, completionTokens: 0 } }, timings: { totalMs: 1, environmentMs: 0 } }
    },
  }
  beforeAll(async () => {
    database = await freshPostgres()
    t = await testApp(database, new LocalBlobStore(tempDir()), {}, agents)
  })
  afterAll(async () => { await database?.close() })

  it('estimates and creates the demo job on a server without an environment of its own', async () => {
    const estimate = await t.request('POST', '/v1/training/jobs/estimate', { json: DEMO_TRAINING_JOB })
    expect(estimate.status, estimate.text).toBe(200)
    expect(estimate.json).toMatchObject({ training_rows: 110, episodes: 40 * 8 * 8, episodes_per_step: 64, agent_turns_max: 40 * 64 * 2 })
    const created = await t.request('POST', '/v1/training/jobs', { json: DEMO_TRAINING_JOB })
    expect(created.status, created.text).toBe(201)
    expect(created.json).toMatchObject({ model: 'builtin:arithmetic-agent', training_file: 'arithmetic', environment: { builtin: 'arithmetic', api_key_set: false } })
    await t.request('POST', `/v1/training/jobs/${created.json.id}/cancel`)
  })

  it('refuses an environment that is both or neither, and a built-in model or environment that does not exist', async () => {
    const job = (environment: unknown, model = 'builtin:arithmetic-agent') => t.request('POST', '/v1/training/jobs', { json: { ...DEMO_TRAINING_JOB, model, environment } })
    const both = await job({ builtin: 'arithmetic', base_url: 'https://api.example.com/v1', model: 'm' })
    expectApiError(both, 400, 'invalid_parameter')
    expect(both.json.error.details.map((d: any) => d.param)).toEqual(['environment.base_url', 'environment.model'])
    const neither = await job({ temperature: 0.5 })
    expect(neither.json.error.details.map((d: any) => [d.code, d.param])).toEqual([['missing_required_parameter', 'environment.base_url'], ['missing_required_parameter', 'environment.model']])
    expectApiError(await job({ builtin: 'chess' }), 400, 'invalid_parameter', 'environment.builtin')
    const model = await job({ builtin: 'arithmetic' }, 'builtin:chess-agent')
    expectApiError(model, 400, 'model_not_allowed', 'model')
    expect(model.json.error.message).toContain('builtin:arithmetic-agent')
  })

  it('evaluates the sample agent on the built-in set against the built-in environment, on a worker offline', async () => {
    process.env.PROMPT_R1_CACHE = sampleCache // made by the test above: the worker finds it there
    await t.worker.start()
    try {
      const created = await t.request('POST', '/v1/evaluations', {
        json: { datasets: ['arithmetic'], modes: ['direct', 'agent'], max_rows: 4, environment: { builtin: 'arithmetic' }, agent: { model: 'builtin:arithmetic-agent', max_new_tokens_per_turn: 24, max_turns: 2 } },
      })
      expect(created.status, created.text).toBe(201)
      let job = created.json
      for (let i = 0; i < 600 && !['succeeded', 'failed', 'cancelled'].includes(job.status); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100))
        job = (await t.request('GET', `/v1/evaluations/${job.id}`)).json
      }
      expect(job.status, JSON.stringify(job.error)).toBe('succeeded')
      const rows = (await t.request('GET', `/v1/evaluations/${job.id}/results?format=jsonl`)).text.trim().split('\n').map((line) => JSON.parse(line))
      expect(rows.map((r: any) => `${r.mode} ${r.row}`).sort()).toEqual(['agent 0', 'agent 1', 'agent 2', 'agent 3', 'direct 0', 'direct 1', 'direct 2', 'direct 3'])
      // the environment alone answers "0 + 0 = 0": the whole sentence, not the number the gold is
      expect(rows.find((r: any) => r.mode === 'direct' && r.row === 0).prediction).toBe('0 + 0 = 0')
    } finally {
      await t.worker.stop()
      delete process.env.PROMPT_R1_CACHE
    }
  }, 120_000)

  it('hands a chat\'s built-in environment to the agents by name', async () => {
    const chat = await t.request('POST', '/v1/chat/completions', { json: { model: 'agent', messages: [{ role: 'user', content: '3 + 4' }], environment: { builtin: 'arithmetic' } } })
    expect(chat.status, chat.text).toBe(200)
    expect(asked.at(-1)!.environment).toEqual({ builtin: 'arithmetic' })
    const both = await t.request('POST', '/v1/chat/completions', { json: { model: 'agent', messages: [{ role: 'user', content: '3 + 4' }], environment: { builtin: 'arithmetic', base_url: 'https://api.example.com/v1' } } })
    expectApiError(both, 400, 'invalid_parameter', 'environment.base_url')
  })
})
