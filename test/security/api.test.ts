// Inputs and faults that used to get a 500, a hang or a leak from the API: each answered now with
// the error envelope (4xx for input, 503 with Retry-After for the database and blob store), within
// a deadline, and without secrets in what it says or logs.
import { type Server, createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, expect, it, vi } from 'vitest'
import { Hono } from 'hono'
import { createApp } from '../../edge/app.ts'
import { handleError } from '../../edge/errors.ts'
import type { AgentService } from '../../shared/agents.ts'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import { loadConfig } from '../../shared/config.ts'
import { insertCheckpoint } from '../../shared/db/checkpoints.ts'
import type { OpenDatabase } from '../../shared/db/database.ts'
import { createJob } from '../../shared/db/jobs.ts'
import { openPostgres } from '../../shared/db/postgres.ts'
import { describeFault } from '../../shared/log.ts'
import { OpenAIEnvironment } from '../../shared/protocol/environment.ts'
import { describePostgres, freshPostgres } from '../helpers/databases.ts'
import { expectApiError, testApp } from '../helpers/app.ts'

const json = (body: unknown, key: string, headers: Record<string, string> = {}) =>
  ({ method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) })

// a TCP server that accepts connections and never answers: a stalled (SIGSTOPped) Postgres or environment
async function silentServer() {
  const sockets = new Set<import('node:net').Socket>()
  const server: Server = createServer((socket) => { sockets.add(socket) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    close: () => { for (const s of sockets) s.destroy(); return new Promise<void>((resolve) => server.close(() => resolve())) },
  }
}

async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

describePostgres('the API under bad input, faults and stalls', () => {
  let database: OpenDatabase
  let t: Awaited<ReturnType<typeof testApp>>
  let tenant: string
  let blobs: LocalBlobStore

  beforeAll(async () => {
    database = await freshPostgres()
    blobs = new LocalBlobStore(mkdtempSync(join(tmpdir(), 'security-blobs-')))
    t = await testApp(database, blobs)
    tenant = await t.projectKey('tenant-a')
  })
  afterAll(async () => { await database?.close() })

  it('refuses NUL and unpaired surrogates in JSON keys as in values, with 400', async () => {
    const body = (environment: string) => `{"model":"m","training_file":"file-x","method":{"type":"grpo"},"environment":${environment}}`
    for (const raw of [
      body('{"base_url":"http://e.example/v1","model":"m","\\u0000":1}'),
      body('{"base_url":"http://e.example/v1","model":"m","\\ud800":1}'),
      body('{"base_url":"http://e.example/v1","model":"m\\u0000"}'),
    ]) {
      const response = await t.app.request('/v1/training/jobs', json(raw, tenant))
      expectApiError({ status: response.status, json: await response.json() }, 400, 'invalid_json')
    }
  })

  it('refuses uploaded rows that Postgres cannot store, naming the row and field, and leaves no blob behind', async () => {
    for (const [line, field] of [['{"question":"a\\u0000b","golds":["x"]}', 'question'], ['{"question":"q","golds":["x","\\udc00"]}', 'golds[1]']]) {
      const form = new FormData()
      form.set('file', new File([`{"question":"fine","golds":["1"]}\n${line}\n`], 'rows.jsonl'))
      form.set('purpose', 'fine-tune')
      const response = await t.request('POST', '/v1/files', { key: tenant, body: form })
      expectApiError(response, 400, 'invalid_file', 'file')
      expect(response.json.error.message).toMatch(new RegExp(`row 2, field ${field.replace(/[[\]]/g, '\\$&')}: contains (a NUL|an unpaired).*which cannot be stored`))
    }
    expect(await blobs.list('projects/')).toEqual([])
  })

  it('refuses an event cursor too long for the sequence column, with 400', async () => {
    const job = await createJob(database.db, { projectId: 'tenant-a', kind: 'noop', config: {}, maxAttempts: 1 })
    expectApiError(await t.request('GET', `/v1/training/jobs/${job.id}/events?after=12345678901234567890`, { key: tenant }), 400, 'invalid_parameter', 'after')
  })

  it('answers 404 for checkpoint file routes with a prototype name as the format, and reads %25 as a percent sign once', async () => {
    const job = await createJob(database.db, { projectId: 'tenant-a', kind: 'noop', config: {}, maxAttempts: 1 })
    const stored = await blobs.put('ckpt/a%b.bin', new TextEncoder().encode('weights'))
    const checkpoint = await insertCheckpoint(database.db, {
      projectId: 'tenant-a', jobId: job.id, step: 1, kind: 'merged', files: { merged: [{ path: 'a%b.bin', blobKey: 'ckpt/a%b.bin', ...stored }] },
    })
    for (const format of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      expectApiError(await t.request('GET', `/v1/checkpoints/${checkpoint.id}/files/${format}/a.bin`, { key: tenant }), 404, 'format_unavailable', 'format')
    }
    const file = await t.request('GET', `/v1/checkpoints/${checkpoint.id}/files/merged/a%25b.bin`, { key: tenant })
    expect(file.status).toBe(200)
    expect(file.text).toBe('weights')
    expectApiError(await t.request('GET', `/v1/checkpoints/${checkpoint.id}/files/merged/a%25252b.bin`, { key: tenant }), 404, 'not_found', 'path')
    expect((await t.request('GET', `/v1/checkpoints/${checkpoint.id}/files/merged/a%zz.bin`, { key: tenant })).status).toBe(404)
  })

  it('builds download links on PROMPT_R1_PUBLIC_URL or relative, never on the Host header', async () => {
    const job = await createJob(database.db, { projectId: 'tenant-a', kind: 'noop', config: {}, maxAttempts: 1 })
    const stored = await blobs.put('ckpt/m.bin', new TextEncoder().encode('m'))
    const checkpoint = await insertCheckpoint(database.db, {
      projectId: 'tenant-a', jobId: job.id, step: 2, kind: 'merged', files: { merged: [{ path: 'm.bin', blobKey: 'ckpt/m.bin', ...stored }] },
    })
    const poisoned = { key: tenant, headers: { host: 'attacker.example', 'x-forwarded-host': 'attacker.example' } }
    const relative = await t.request('GET', `/v1/checkpoints/${checkpoint.id}/download`, poisoned)
    expect(relative.json.files[0].url).toBe(`/v1/checkpoints/${checkpoint.id}/files/merged/m.bin`)
    const configured = await testApp(database, blobs, { PROMPT_R1_PUBLIC_URL: 'https://api.example.com/' })
    const absolute = await configured.request('GET', `/v1/checkpoints/${checkpoint.id}/download`, poisoned)
    expect(absolute.json.files[0].url).toBe(`https://api.example.com/v1/checkpoints/${checkpoint.id}/files/merged/m.bin`)
  })

  it('refuses an environment key with a line break without repeating it, in chat and in jobs', async () => {
    const key = 'sk-live-1234\r\nX-Injected: yes'
    const evaluation = await t.request('POST', '/v1/evaluations', {
      key: tenant, json: { datasets: ['gsm8k'], modes: ['direct'], environment: { base_url: 'http://e.example/v1', model: 'm', api_key: key } },
    })
    expectApiError(evaluation, 400, 'invalid_parameter', 'environment.api_key')
    expect(evaluation.text).not.toContain('sk-live-1234')
    const chat = await t.request('POST', '/v1/chat/completions', {
      key: tenant, json: { model: 'm', messages: [{ role: 'user', content: 'q' }], environment: { base_url: 'http://e.example/v1', model: 'm', api_key: key } },
    })
    expectApiError(chat, 400, 'invalid_parameter', 'environment.api_key')
    expect(chat.text).not.toContain('sk-live-1234')
  })

  it('logs a failed statement without its parameters', async () => {
    const secret = 'sk-param-secret-42'
    const error: any = await database.db.execute(sql`select ${secret}::int`).catch((e) => e)
    expect(error).toBeInstanceOf(Error)
    expect(String(error.message) + JSON.stringify(error)).toContain(secret) // the driver's error does carry it
    const line = describeFault(error)
    expect(line).toMatch(/22P02/)
    expect(line).not.toContain(secret)
    // and through the API's fault handler
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {})
    try {
      const app = new Hono().get('/', () => { throw error }).onError(handleError)
      const response = await app.request('/')
      expect(response.status).toBe(500)
      expect(await response.text()).not.toContain(secret)
      expect(logged).toHaveBeenCalled()
      expect(logged.mock.calls.flat().join('\n')).not.toContain(secret)
    } finally {
      logged.mockRestore()
    }
  })

  it('answers 503 with Retry-After while the blob folder cannot be written, without its path', async () => {
    // root may write anywhere but here: /sys refuses new entries
    const broken = new LocalBlobStore('/sys/fs/prompt-r1-blobs')
    const app = await testApp(database, broken)
    const form = new FormData()
    form.set('file', new File(['{"question":"q","golds":["a"]}\n'], 'rows.jsonl'))
    form.set('purpose', 'fine-tune')
    const response = await app.request('POST', '/v1/files', { key: app.admin, body: form })
    expectApiError(response, 503, 'service_unavailable')
    expect(response.headers.get('retry-after')).toBe('5')
    expect(response.text).not.toContain('/sys/fs')
    const health = await app.request('GET', '/health', { key: null })
    expect(health.status).toBe(503)
    expect(health.json).toMatchObject({ status: 'unavailable', checks: { database: 'ok', blob_store: expect.stringMatching(/^E/) } })
  })

  it('answers 503 with Retry-After when Postgres refuses connections, and within the deadline when it stalls', async () => {
    const config = loadConfig({ PROMPT_R1_REQUEST_TIMEOUT_SECONDS: '1' })
    const refused = openPostgres(`postgres://postgres@127.0.0.1:${await closedPort()}/postgres`)
    const app = createApp({ db: refused.db, databaseDriver: 'postgres', blobs, config, dispatcher: { jobQueued: () => {} } })
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => {})
    const stalled = await silentServer()
    const hung = openPostgres(`postgres://postgres@127.0.0.1:${stalled.port}/postgres`)
    try {
      const response = await app.request('/v1/training/jobs', { headers: { authorization: `Bearer ${tenant}` } })
      expect(response.status).toBe(503)
      expect(response.headers.get('retry-after')).toBe('5')
      expect((await response.json()).error.code).toBe('service_unavailable')
      expect((await app.request('/health')).status).toBe(503)

      const stalledApp = createApp({ db: hung.db, databaseDriver: 'postgres', blobs, config, dispatcher: { jobQueued: () => {} } })
      const started = performance.now()
      const answer = await stalledApp.request('/v1/training/jobs', { headers: { authorization: `Bearer ${tenant}` } })
      expect(answer.status).toBe(503)
      expect((await answer.json()).error.code).toBe('request_timeout')
      expect(performance.now() - started).toBeLessThan(4000)
    } finally {
      quiet.mockRestore()
      await refused.close().catch(() => {})
      await stalled.close()
      void hung.close().catch(() => {})
    }
  })

  it('ends a chat whose environment never answers at the chat deadline, streamed or not', async () => {
    const stalled = await silentServer()
    // the agent's one environment call, through the real client and the signal the route gives it
    const agents: AgentService = {
      models: async () => [{ id: 'agent', created: 0, ownedBy: 'test' }],
      hasModel: async () => true,
      run: async (request) => {
        request.onAccepted?.()
        if ('builtin' in request.environment) throw new Error('this test asks an endpoint')
        const environment = new OpenAIEnvironment({ ...request.environment, policy: { allowLoopback: true }, timeoutMs: 120_000 })
        await environment.complete([{ role: 'user', content: request.question }], request.signal)
        throw new Error('unreachable: the environment never answers')
      },
    }
    const config = loadConfig({ PROMPT_R1_CHAT_TIMEOUT_SECONDS: '1', PROMPT_R1_ALLOW_LOOPBACK_ENVIRONMENT: 'true' })
    const app = createApp({ db: database.db, databaseDriver: 'postgres', blobs, config, agents, dispatcher: { jobQueued: () => {} } })
    const body = { model: 'agent', messages: [{ role: 'user', content: 'q' }], environment: { base_url: `http://127.0.0.1:${stalled.port}/v1`, model: 'm' } }
    try {
      const started = performance.now()
      const response = await app.request('/v1/chat/completions', json(body, tenant))
      expectApiError({ status: response.status, json: await response.json() }, 504, 'deadline_exceeded')
      expect(performance.now() - started).toBeLessThan(4000)
      const streamed = await app.request('/v1/chat/completions', json({ ...body, stream: true }, tenant))
      const text = await streamed.text()
      expect(text).toContain('"code":"deadline_exceeded"')
      expect(text.trim().endsWith('data: [DONE]')).toBe(true)
    } finally {
      await stalled.close()
    }
  })
})
