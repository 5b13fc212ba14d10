// The edge and two GPU worker processes on one Postgres, as deployed: the edge is `npm start`'s
// composition with PROMPT_R1_CHAT_AGENTS=workers and no worker of its own; each worker is
// `npm run worker` serving a tiny agent on its inference endpoint. Chats spread over both, every
// turn streams through, a client that goes away stops the worker's run, a full fleet answers 429,
// and a worker killed mid-stream gives its client a clean error while new chats go to the other.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { makeTinyCheckpoint } from '../../gpu-worker/engine/tiny.ts'
import { WORKER_HEALTH_PATH } from '../../shared/agents.ts'
import { createApiKey } from '../../shared/db/api-keys.ts'
import type { OpenDatabase } from '../../shared/db/database.ts'
import { openPostgres } from '../../shared/db/postgres.ts'
import { liveInferenceWorkers } from '../../shared/db/workers.ts'
import { randomToken } from '../../shared/ids.ts'
import { type DeterministicArithmeticEnv, startDeterministicArithmeticEnv } from '../protocol/deterministic-arithmetic-env.ts'
import { describePostgres, freshPostgresUrl } from '../helpers/databases.ts'
import { type Process, killLaunched, launch, streamChat } from '../helpers/processes.ts'
import { until } from '../helpers/wait.ts'
import { freePort } from '../setup/postgres-cluster.ts'

const token = randomToken(40)
describePostgres('an edge and two GPU workers on one Postgres', () => {
  let env: DeterministicArithmeticEnv
  let database: OpenDatabase
  let base: string
  let key: string
  const workers: { process: Process; url: string }[] = []
  // The random agent writes no tags: its first turn runs to the token limit and is its answer.
  // short: 8 tokens; long: 1024 tokens (seconds of work to interrupt)
  const question = (n: number, maxTokens: 8 | 1024) => ({
    model: 'tiny-agent', max_tokens: maxTokens, messages: [{ role: 'user', content: `What is ${n} + ${n}?` }],
    environment: { base_url: env.baseURL, model: 'arith', api_key: 'env-secret' },
  })
  const health = async (url: string) => (await fetch(`${url}${WORKER_HEALTH_PATH}`, { headers: { authorization: `Bearer ${token}` } })).json() as Promise<{ active: number; served: number }>

  beforeAll(async () => {
    env = await startDeterministicArithmeticEnv()
    const url = await freshPostgresUrl()
    database = openPostgres(url, { maxConnections: 2 })
    key = (await createApiKey(database.db, { projectId: 'scale', name: 'k', isAdmin: false })).secret
    const dir = mkdtempSync(join(tmpdir(), 'scale-out-'))
    // the real vocabulary: a random agent almost never samples <|im_end|>, so each turn runs to its token limit
    makeTinyCheckpoint(join(dir, 'agent'), { seed: 5, tokenizer: 'qwen3' })
    const common = { DATABASE_URL: url, PROMPT_R1_WORKER_TOKEN: token, PROMPT_R1_HEARTBEAT_SECONDS: '1', PROMPT_R1_LEASE_SECONDS: '3', S3_BUCKET: '' }
    const port = await freePort()
    await launch('platform/embedded.ts', {
      ...common, PORT: String(port), PROMPT_R1_DATA_DIR: join(dir, 'edge'), PROMPT_R1_CHAT_AGENTS: 'workers', PROMPT_R1_IN_PROCESS_WORKER: 'false',
    }, 'listening on')
    base = `http://127.0.0.1:${port}`
    for (const name of ['a', 'b']) {
      const workerPort = await freePort()
      const process = await launch('gpu-worker/main.ts', {
        ...common, PROMPT_R1_DATA_DIR: join(dir, name), PROMPT_R1_CACHE: join(dir, name, 'cache'), PROMPT_R1_WORKER_PORT: String(workerPort),
        PROMPT_R1_WORKER_SLOTS: '2', PROMPT_R1_AGENT_MODEL: join(dir, 'agent'), PROMPT_R1_AGENT_NAME: 'tiny-agent',
        PROMPT_R1_ALLOW_LOOPBACK_ENVIRONMENT: 'true', PROMPT_R1_ENGINE_THREADS: '1',
      }, 'serving chat at')
      workers.push({ process, url: `http://127.0.0.1:${workerPort}` })
    }
    await until(async () => (await liveInferenceWorkers(database.db, 3000)).length === 2, { what: 'both workers to advertise' })
  }, 240_000)

  afterAll(async () => {
    killLaunched()
    await database?.close()
    await env?.close()
  })

  it('lists the agent the workers serve and refuses a wrong worker token', async () => {
    const models = await (await fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).json() as any
    expect(models.data.map((m: { id: string }) => m.id)).toEqual(['tiny-agent'])
    const refused = await fetch(`${workers[0].url}${WORKER_HEALTH_PATH}`, { headers: { authorization: `Bearer ${token}x` } })
    expect(refused.status).toBe(401)
  })

  it('passes a chat\'s built-in environment on to the worker', async () => {
    const response = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...question(5, 8), environment: { builtin: 'arithmetic' } }),
    })
    const completion = await response.json() as any
    expect(response.status, JSON.stringify(completion)).toBe(200)
    expect(completion.turns.length).toBeGreaterThanOrEqual(1)
  })

  it('spreads streamed chats over both workers, each turn streamed through', async () => {
    const before = await Promise.all(workers.map((w) => health(w.url)))
    const chats = await Promise.all([1, 2, 3, 4].map((n) => streamChat(base, key, question(n, 8))))
    for (const chat of chats) {
      expect(chat.status).toBe(200)
      const steps = chat.data.filter((d) => d !== '[DONE]' && d.prompt_r1).map((d) => d.prompt_r1.type)
      expect(steps.filter((t: string) => t === 'agent_turn').length).toBeGreaterThanOrEqual(1)
      expect(steps.at(-1)).toBe('done')
      expect(chat.data.at(-1)).toBe('[DONE]')
    }
    const after = await Promise.all(workers.map((w) => health(w.url)))
    const served = after.map((h, i) => h.served - before[i].served)
    expect(served.reduce((a, b) => a + b)).toBe(4)
    expect(Math.min(...served)).toBeGreaterThan(0)
  })

  it('stops the worker\'s run when the client goes away', async () => {
    const idle = async () => (await Promise.all(workers.map((w) => health(w.url)))).every((h) => h.active === 0)
    let started = performance.now()
    const whole = await streamChat(base, key, question(5, 1024))
    expect(whole.data.at(-1)).toBe('[DONE]')
    const wholeMs = performance.now() - started
    // the same chat again, the client gone as soon as the stream opens
    const abort = new AbortController()
    started = performance.now()
    const chat = streamChat(base, key, question(5, 1024), { signal: abort.signal, onData: (d) => { if (d.choices?.[0]?.delta?.role) abort.abort() } })
    await expect(chat).rejects.toThrow()
    await until(idle, { what: 'the workers to drop the run', timeoutMs: 10_000 })
    expect(performance.now() - started, `the whole chat took ${Math.round(wholeMs)} ms`).toBeLessThan(wholeMs / 2)
  })

  it('answers 429 with Retry-After when every worker\'s slots are taken', async () => {
    const abort = new AbortController()
    const started: Promise<unknown>[] = []
    let streaming = 0
    for (let n = 0; n < 4; n++) {
      started.push(streamChat(base, key, question(10 + n, 1024), { signal: abort.signal, onData: (d) => { if (d.choices?.[0]?.delta?.role) streaming += 1 } }).catch(() => {}))
    }
    await until(async () => (await Promise.all(workers.map((w) => health(w.url)))).every((h) => h.active === 2), { what: 'all four slots to be taken' })
    const refused = await streamChat(base, key, question(20, 8))
    expect(refused.status).toBe(429)
    expect(refused.body.error.code).toBe('workers_busy')
    expect(refused.headers.get('retry-after')).toBe('1')
    expect(streaming).toBe(4)
    abort.abort()
    await Promise.all(started)
    await until(async () => (await Promise.all(workers.map((w) => health(w.url)))).every((h) => h.active === 0), { what: 'the slots to free' })
  })

  it('gives a clean error event when the worker dies mid-stream, and sends new chats to the other', async () => {
    const killed: number[] = []
    const chat = await streamChat(base, key, question(30, 1024), {
      onData: async (d) => {
        if (killed.length || !d.choices?.[0]?.delta?.role) return
        killed.push(-1)
        const loads = await Promise.all(workers.map((w) => health(w.url)))
        const busy = loads.findIndex((h) => h.active === 1)
        killed[0] = busy
        workers[busy].process.child.kill('SIGKILL')
      },
    })
    expect(killed[0]).toBeGreaterThanOrEqual(0)
    const error = chat.data.find((d) => d !== '[DONE]' && d.error)
    expect(error.error).toMatchObject({ code: 'worker_lost', param: null })
    expect(error.error.message).toMatch(/stopped before it finished this answer/)
    expect(chat.data.at(-1)).toBe('[DONE]')
    // the dead worker still looks live for a few heartbeats: the edge finds it unreachable and goes on
    const survivor = workers[1 - killed[0]]
    const before = (await health(survivor.url)).served
    for (const n of [31, 32]) {
      const next = await streamChat(base, key, question(n, 8))
      expect(next.status).toBe(200)
      expect(next.data.at(-2).prompt_r1.type).toBe('done')
    }
    expect((await health(survivor.url)).served - before).toBe(2)
  })

  it('answers 503 no_worker_available with Retry-After when no worker is live', async () => {
    for (const w of workers) w.process.child.kill('SIGKILL')
    await until(async () => (await liveInferenceWorkers(database.db, 3000)).length === 0, { what: 'the workers to go stale', timeoutMs: 10_000 })
    const refused = await streamChat(base, key, question(40, 8))
    expect(refused.status).toBe(503)
    expect(refused.body.error.code).toBe('no_worker_available')
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0)
  })
})
