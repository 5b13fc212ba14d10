// The agent served as an OpenAI-compatible chat model: the episode's steps as events, the route's
// validation and environment policy, and the official `openai` SDK as a client against a real
// server backed by a tiny checkpoint and a local deterministic environment.
import { serve } from '@hono/node-server'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { TEST_ENGINE } from '../helpers/engine.ts'
import { createApp } from '../../edge/app.ts'
import type { AgentEvent, AgentRun, AgentService } from '../../shared/agents.ts'
import { LocalAgents, answerQuestion } from '../../gpu-worker/agent.ts'
import { checkResolvedHost } from '../../shared/outbound-fetch.ts'
import { makeTinyCheckpoint } from '../../gpu-worker/engine/tiny.ts'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import { loadConfig } from '../../shared/config.ts'
import { createApiKey } from '../../shared/db/api-keys.ts'
import { insertCheckpoint } from '../../shared/db/checkpoints.ts'
import { createJob } from '../../shared/db/jobs.ts'
import type { OpenDatabase } from '../../shared/db/database.ts'
import { runs } from '../../shared/db/schema.ts'
import { ChatTokenizer, INFERENCE_OPTIONS, OpenAIEnvironment, firstTurnText, oneMessageFirstTurnText, userContentForQuestion } from '../../shared/protocol/index.ts'
import { type DeterministicArithmeticEnv, startDeterministicArithmeticEnv } from '../protocol/deterministic-arithmetic-env.ts'
import { qwen3Tokenizer } from '../protocol/qwen3-tokenizer.ts'
import { ScriptedPolicy } from '../protocol/scripted-policy.ts'
import { describePostgres, freshPostgres } from '../helpers/databases.ts'

let env: DeterministicArithmeticEnv
beforeAll(async () => { env = await startDeterministicArithmeticEnv() })
afterAll(async () => { await env.close() })

describe('answering one question', () => {
  it('reports each agent turn before its environment call, then the answer', async () => {
    const tokenizer = await qwen3Tokenizer()
    const policy = new ScriptedPolicy(tokenizer, {
      'What is 17 * 23?': [
        '<think>Ask the LLM.</think>\n<interaction_prompt>{"name": "prompt", "arguments": {"prompt": "Compute 17 * 23"}}</interaction_prompt>',
        '<think>It says 391.</think>\n<answer>391</answer>',
      ],
    })
    const events: (AgentEvent & { environmentRequests: number })[] = []
    const run = await answerQuestion({
      policy, tokenizer, environment: new OpenAIEnvironment({ baseURL: env.baseURL, apiKey: 'x', model: 'arith', policy: { allowLoopback: true } }),
      question: 'What is 17 * 23?', options: INFERENCE_OPTIONS, signal: new AbortController().signal,
      onEvent: (event) => events.push({ ...event, environmentRequests: env.requests.length }),
    })
    const before = events[0].environmentRequests
    expect(events.map((e) => e.type)).toEqual(['agent_turn', 'environment_answer', 'agent_turn'])
    expect(events[0]).toMatchObject({ turn: 1, think: 'Ask the LLM.', prompt: 'Compute 17 * 23', answer: null, environmentRequests: before })
    expect(events[1]).toMatchObject({ turn: 1, content: '17 * 23 = 391', error: null, environmentRequests: before + 1 })
    expect(events[2]).toMatchObject({ turn: 2, answer: '391', prompt: null })
    expect(run).toMatchObject({ answer: '391', endReason: 'answer' })
    expect(run.usage.environment.completionTokens).toBe(5)
    expect(run.usage.agent.completionTokens).toBeGreaterThan(20)
  })

  it('stops when the client goes away, without waiting for the environment', async () => {
    const tokenizer = await qwen3Tokenizer()
    const policy = new ScriptedPolicy(tokenizer, {
      'Slow?': ['<think>.</think>\n<interaction_prompt>{"name": "prompt", "arguments": {"prompt": "[delay 5000] 1 + 1"}}</interaction_prompt>'],
    })
    const abort = new AbortController()
    const started = Date.now()
    const running = answerQuestion({
      policy, tokenizer, environment: new OpenAIEnvironment({ baseURL: env.baseURL, apiKey: 'x', model: 'arith', policy: { allowLoopback: true } }),
      question: 'Slow?', options: INFERENCE_OPTIONS, signal: abort.signal,
      onEvent: (event) => { if (event.type === 'agent_turn') setTimeout(() => abort.abort(new Error('client went away')), 100) },
    })
    await expect(running).rejects.toThrow()
    expect(Date.now() - started).toBeLessThan(3000)
  })
})

describePostgres('POST /v1/chat/completions', () => {
  let database: OpenDatabase
  let server: ReturnType<typeof serve>
  let base: string
  let key: string
  let otherKey: string
  let agentDir: string
  let blobs: LocalBlobStore
  const agentName = 'tiny-agent'

  beforeAll(async () => {
    database = await freshPostgres()
    const dir = mkdtempSync(join(tmpdir(), 'serving-'))
    agentDir = join(dir, 'agent')
    makeTinyCheckpoint(agentDir, { seed: 5 })
    const config = loadConfig({ PROMPT_R1_ALLOW_LOOPBACK_ENVIRONMENT: 'true' })
    blobs = new LocalBlobStore(join(dir, 'blobs'))
    const agents = new LocalAgents({
      db: database.db, blobs, allowLoopbackEnvironment: true,
      engine: TEST_ENGINE, cacheDir: join(dir, 'cache'),
      defaultModel: { name: agentName, source: join(dir, 'agent') },
    })
    const app = createApp({ db: database.db, databaseDriver: 'postgres', blobs, config, agents, dispatcher: { jobQueued: () => {} } })
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' })
    await new Promise((resolve) => server.once('listening', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    key = (await createApiKey(database.db, { projectId: 'serving', name: 'k', isAdmin: false })).secret
    otherKey = (await createApiKey(database.db, { projectId: 'other', name: 'k', isAdmin: false })).secret
  })
  afterAll(async () => {
    server?.close()
    await database?.close()
  })

  const environment = () => ({ base_url: env.baseURL, model: 'arith', api_key: 'secret-env-key' })
  const post = (body: unknown, secret = key) => fetch(`${base}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
  })

  it('lists the served agent', async () => {
    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key })
    const models = await client.models.list()
    expect(models.data.map((m) => m.id)).toEqual([agentName])
  })

  it('answers the official openai SDK, streamed and not, with the same greedy answer and the turns', async () => {
    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key })
    const request = {
      model: agentName, max_tokens: 12, messages: [{ role: 'user' as const, content: 'What is 2 + 2?' }],
      environment: environment(),
    }
    const completion = await client.chat.completions.create(request as OpenAI.ChatCompletionCreateParamsNonStreaming) as any
    expect(completion.object).toBe('chat.completion')
    expect(typeof completion.choices[0].message.content).toBe('string')
    expect(completion.turns.length).toBeGreaterThanOrEqual(1)
    expect(completion.turns.length).toBeLessThanOrEqual(5)
    expect(completion.usage.prompt_tokens).toBeGreaterThan(100)
    expect(completion.usage.completion_tokens).toBeGreaterThan(0)
    expect(completion.usage.environment).toEqual(expect.objectContaining({ prompt_tokens: expect.any(Number) }))

    const stream = await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } } as OpenAI.ChatCompletionCreateParamsStreaming)
    let content = ''
    const steps: any[] = []
    let usage: any
    let finish: string | null = null
    for await (const chunk of stream) {
      content += chunk.choices[0]?.delta?.content ?? ''
      if ((chunk as any).prompt_r1) steps.push((chunk as any).prompt_r1)
      finish = chunk.choices[0]?.finish_reason ?? finish
      usage = chunk.usage ?? usage
    }
    expect(content).toBe(completion.choices[0].message.content)
    expect(finish).toBe('stop')
    expect(usage).toEqual(completion.usage)
    const agentTurns = steps.filter((s) => s.type === 'agent_turn')
    expect(agentTurns.map((s) => s.turn)).toEqual(completion.turns.map((_: unknown, i: number) => i + 1))
    expect(agentTurns.map((s) => s.think)).toEqual(completion.turns.map((t: any) => t.think))
    expect(steps.at(-1)).toMatchObject({ type: 'done', end_reason: completion.end_reason })

    const stored = await database.db.select().from(runs).where(eq(runs.id, completion.id))
    expect(stored).toHaveLength(1)
    expect(stored[0]).toMatchObject({ projectId: 'serving', model: agentName, question: 'What is 2 + 2?', answer: completion.choices[0].message.content })
    // the environment's key is used, never stored
    expect(JSON.stringify(stored)).not.toContain('secret-env-key')
    expect(env.requests.every((r) => r.body.model === 'arith')).toBe(true)
  })

  it('plays the protocol a request names: the training one by default, the published inference layout when asked', async () => {
    const tokenizer = await ChatTokenizer.fromFolder(agentDir)
    const content = userContentForQuestion('What is 3 + 3?')
    const ask = async (extra: Record<string, unknown>) => {
      const response = await post({ model: agentName, max_tokens: 2, messages: [{ role: 'user', content: 'What is 3 + 3?' }], environment: environment(), ...extra })
      const json = await response.json() as any
      expect(response.status, JSON.stringify(json)).toBe(200)
      return json.usage.prompt_tokens
    }
    expect(await ask({})).toBe(tokenizer.encode(firstTurnText(content)).length)
    expect(await ask({ protocol: 'batch-inference' })).toBe(tokenizer.encode(oneMessageFirstTurnText(content)).length)
  })

  it('serves a project\'s merged checkpoint by its fine-tuned name or its id, from the blob store, to that project only', async () => {
    const files = []
    for (const name of readdirSync(agentDir)) {
      const blobKey = `projects/serving/checkpoints/ckpt-merged/merged/${name}`
      files.push({ path: name, blobKey, ...(await blobs.put(blobKey, new Uint8Array(readFileSync(join(agentDir, name))))) })
    }
    const job = await createJob(database.db, { projectId: 'serving', kind: 'train', config: {}, maxAttempts: 3 })
    const checkpoint = await insertCheckpoint(database.db, { projectId: 'serving', jobId: job.id, step: 1, kind: 'merged', files: { merged: files } }, { base: 'hf:Qwen/Qwen3-0.6B', suffix: 'chat' })
    expect(checkpoint.modelName).toBe(`ft:Qwen3-0.6B:serving:chat:${checkpoint.id}`)
    for (const model of [checkpoint.modelName!, checkpoint.id]) {
      const ask = { model, max_tokens: 4, messages: [{ role: 'user', content: 'hi' }], environment: environment() }
      const response = await post(ask)
      expect(response.status).toBe(200)
      expect(((await response.json()) as any).model).toBe(model)
      expect((await post(ask, otherKey)).status).toBe(404)
    }
    expect((await post({ model: `ft:Qwen3-0.6B:serving:other:${checkpoint.id}`, max_tokens: 4, messages: [{ role: 'user', content: 'hi' }], environment: environment() })).status).toBe(404)
    // listed under its fine-tuned name, as a model of its project only, after the served agent
    const models = async (secret: string) => ((await (await fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${secret}` } })).json()) as any).data
    expect((await models(key)).map((m: any) => [m.id, m.owned_by])).toEqual([[agentName, 'prompt-r1'], [checkpoint.modelName, 'serving']])
    expect((await models(otherKey)).map((m: any) => m.id)).toEqual([agentName])
  })

  // a stream from an app with its own agent (and database), as the events' data
  async function streamOf(agents: AgentService, db = database.db): Promise<any[]> {
    const app = createApp({ db, databaseDriver: 'postgres', blobs, config: loadConfig({}), agents, dispatcher: { jobQueued: () => {} } })
    const response = await app.request('/v1/chat/completions', {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'any', stream: true, messages: [{ role: 'user', content: 'What is 2 + 2?' }], environment: { builtin: 'arithmetic' } }),
    })
    expect(response.status).toBe(200)
    const events = (await response.text()).split('\n').filter((line) => line.startsWith('data: ')).map((line) => line.slice(6))
    expect(events.at(-1)).toBe('[DONE]')
    return events.slice(0, -1).map((data) => JSON.parse(data))
  }
  const agentThat = (end: () => AgentRun): AgentService => ({
    models: async () => [], hasModel: async () => true,
    run: async (request) => {
      request.onAccepted?.()
      request.onEvent({ type: 'agent_turn', turn: 1, think: 'it is 4', prompt: null, answer: '4', error: null })
      return end()
    },
  })

  it('streams the answer before the run is recorded, and a record that fails as the stream\'s error event', async () => {
    const lostConnection = () => Object.assign(new Error('write CONNECTION_CLOSED 10.1.2.3:5432'), { code: 'CONNECTION_CLOSED' })
    // the real database for the API key, one that has lost its connection for the run's record
    const db = new Proxy(database.db, {
      get: (target, name) => name === 'insert' ? () => ({ values: () => Promise.reject(lostConnection()) })
        : typeof Reflect.get(target, name) === 'function' ? Reflect.get(target, name).bind(target) : Reflect.get(target, name),
    })
    const answered = agentThat(() => ({ answer: '4', endReason: 'answer', turns: [], usage: { agent: { promptTokens: 1, completionTokens: 1 }, environment: { promptTokens: 0, completionTokens: 0 } }, timings: { totalMs: 1, environmentMs: 0 } }))
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {})
    try {
      const chunks = await streamOf(answered, db)
      expect(chunks.map((c) => c.choices?.[0]?.delta?.content ?? null).join('')).toBe('4')
      expect(chunks.at(-1).error).toMatchObject({ code: 'service_unavailable' })
      expect(JSON.stringify(chunks)).not.toContain('10.1.2.3')
      expect(chunks.some((c) => c.prompt_r1?.type === 'done')).toBe(false)
      expect(errors).toHaveBeenCalledOnce()
    } finally {
      errors.mockRestore()
    }
  })

  it('ends a stream whose run meets a blob store fault with service_unavailable, never the fault\'s text', async () => {
    const unreadable = agentThat(() => { throw Object.assign(new Error("EACCES: permission denied, open '/srv/blobs/ckpt-1/model.safetensors'"), { code: 'EACCES', syscall: 'open' }) })
    const chunks = await streamOf(unreadable)
    expect(chunks.some((c) => c.prompt_r1?.type === 'agent_turn')).toBe(true)
    expect(chunks.at(-1).error).toMatchObject({ code: 'service_unavailable' })
    expect(JSON.stringify(chunks)).not.toContain('/srv/blobs')
  })

  it('streams 64 chats at once to the end, none failing', async () => {
    const streams = await Promise.all(Array.from({ length: 64 }, async (_, i) => {
      const response = await post({
        model: agentName, stream: true, max_tokens: 6, temperature: 1, seed: i, messages: [{ role: 'user', content: `What is ${i} + ${i}?` }], environment: environment(),
      })
      return { status: response.status, text: await response.text() }
    }))
    for (const [i, { status, text }] of streams.entries()) {
      expect(status, `chat ${i}`).toBe(200)
      const events = text.split('\n').filter((line) => line.startsWith('data: ')).map((line) => line.slice(6))
      expect(events.at(-1), `chat ${i}`).toBe('[DONE]')
      const chunks = events.slice(0, -1).map((data) => JSON.parse(data))
      expect(chunks.filter((c) => c.error), `chat ${i}`).toEqual([])
      expect(chunks.some((c) => c.prompt_r1?.type === 'done'), `chat ${i}`).toBe(true)
    }
  })

  it('refuses bad requests with clear errors', async () => {
    const ask = { model: agentName, messages: [{ role: 'user', content: 'hi' }] }
    const expectError = async (body: unknown, status: number, code: string, param?: string, secret = key) => {
      const response = await post(body, secret)
      const json = await response.json() as any
      expect(response.status, JSON.stringify(json)).toBe(status)
      expect(json.error.code).toBe(code)
      if (param) expect(json.error.param).toBe(param)
    }
    await expectError(ask, 400, 'missing_required_parameter', 'environment')
    await expectError({ ...ask, model: 'gpt-5', environment: environment() }, 404, 'model_not_found', 'model')
    await expectError({ ...ask, model: 'ckpt-doesnotexist', environment: environment() }, 404, 'model_not_found', 'model')
    await expectError({ ...ask, messages: [{ role: 'system', content: 'only system' }], environment: environment() }, 400, 'invalid_parameter', 'messages')
    await expectError({ ...ask, messages: [] }, 400, 'invalid_parameter', 'messages')
    await expectError({ ...ask, logit_bias: {} }, 400, 'unknown_parameter', 'logit_bias')
    await expectError({ ...ask, temperature: 3 }, 400, 'invalid_parameter', 'temperature')
    await expectError({ ...ask, n: 2 }, 400, 'invalid_parameter', 'n')
    await expectError({ ...ask, protocol: 'vllm' }, 400, 'invalid_parameter', 'protocol')
    for (const baseURL of ['http://169.254.169.254/latest', 'http://metadata.google.internal/v1', 'http://[fe80::1]/v1', 'http://[::ffff:169.254.169.254]/v1']) {
      await expectError({ ...ask, environment: { base_url: baseURL, model: 'm' } }, 400, 'environment_not_allowed', 'environment.base_url')
    }
    await expectError({ ...ask, environment: { base_url: 'file:///etc/passwd', model: 'm' } }, 400, 'invalid_parameter', 'environment.base_url')
    await expectError({ ...ask, environment: { base_url: 'http://u:p@example.com/v1', model: 'm' } }, 400, 'invalid_parameter', 'environment.base_url')
    await expectError({ ...ask, environment: { ...environment(), extra: 1 } }, 400, 'unknown_parameter', 'environment.extra')
  })
})

describe('the environment host policy', () => {
  it('refuses loopback unless allowed, and link-local always', async () => {
    const { checkEnvironmentUrl } = await import('../../shared/outbound.ts')
    expect(checkEnvironmentUrl('http://127.0.0.1:8000/v1/', true)).toBe('http://127.0.0.1:8000/v1')
    expect(() => checkEnvironmentUrl('http://127.0.0.1:8000/v1', false)).toThrow(/loopback/)
    expect(() => checkEnvironmentUrl('http://localhost/v1', false)).toThrow(/loopback/)
    expect(() => checkEnvironmentUrl('http://[::1]/v1', false)).toThrow(/loopback/)
    expect(() => checkEnvironmentUrl('http://169.254.1.1/v1', true)).toThrow(/link-local/)
    expect(checkEnvironmentUrl('https://api.openai.com/v1', false)).toBe('https://api.openai.com/v1')
    expect(checkEnvironmentUrl('http://10.0.0.5:8000/v1', false)).toBe('http://10.0.0.5:8000/v1')
  })

  it('checks what a host name resolves to', async () => {
    await expect(checkResolvedHost('http://localhost:1/v1', { allowLoopback: false })).rejects.toThrow(/resolves to (127\.0\.0\.1|::1)/)
    await expect(checkResolvedHost('http://localhost:1/v1', { allowLoopback: true })).resolves.toBeUndefined()
  })
})
