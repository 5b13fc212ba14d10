// The same app in the Cloudflare Workers runtime: `wrangler dev` (workerd, offline) with the
// Hyperdrive binding pointed at the test Postgres server and blobs on the test S3 server; its
// chats go to a GPU worker process (`npm run worker` with a tiny agent) on the same Postgres.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GetObjectCommand } from '@aws-sdk/client-s3'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { makeTinyCheckpoint } from '../../gpu-worker/engine/tiny.ts'
import { createApiKey } from '../../shared/db/api-keys.ts'
import { randomToken } from '../../shared/ids.ts'
import { killLaunched, launch, streamChat } from '../helpers/processes.ts'
import { openPostgres } from '../../shared/db/postgres.ts'
import { TEST_BUCKET } from '../setup/global.ts'
import { freePort } from '../setup/postgres-cluster.ts'
import { describePostgres, freshPostgresUrl } from '../helpers/databases.ts'
import { s3Endpoint, testS3Store } from '../helpers/s3.ts'

function withPassword(url: string) {
  const parsed = new URL(url)
  parsed.password ||= 'unused'
  return parsed.toString()
}

describePostgres('the edge in the Workers runtime (wrangler dev)', () => {
  let wrangler: ChildProcess
  let base: string
  let key: string
  let output = ''
  let url: string
  const token = randomToken(40)

  beforeAll(async () => {
    url = await freshPostgresUrl()
    const database = openPostgres(url, { maxConnections: 1 })
    key = (await createApiKey(database.db, { projectId: 'workers', name: 'workers test', isAdmin: false })).secret
    await database.close()
    await testS3Store() // makes sure the bucket exists
    const port = await freePort()
    base = `http://127.0.0.1:${port}`
    const vars = {
      S3_ENDPOINT: s3Endpoint, S3_BUCKET: TEST_BUCKET, S3_ACCESS_KEY_ID: 'test', S3_SECRET_ACCESS_KEY: 'test', S3_REGION: 'us-east-1',
      PROMPT_R1_WORKER_TOKEN: token, PROMPT_R1_HEARTBEAT_SECONDS: '1', PROMPT_R1_LEASE_SECONDS: '3',
    }
    wrangler = spawn('node_modules/.bin/wrangler', [
      'dev', '--config', 'wrangler.toml', '--ip', '127.0.0.1', '--port', String(port),
      '--inspector-port', String(await freePort()), '--show-interactive-dev-session=false',
      '--persist-to', mkdtempSync(join(tmpdir(), 'wrangler-')),
      ...Object.entries(vars).flatMap(([k, v]) => ['--var', `${k}:${v}`]),
    ], {
      env: {
        ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_ERROR_REPORTS: 'false',
        // Hyperdrive insists on a password; the test cluster trusts every local connection
        CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE: withPassword(url),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    wrangler.stdout!.on('data', (d) => { output += d })
    wrangler.stderr!.on('data', (d) => { output += d })
    const deadline = Date.now() + 90_000
    while (Date.now() < deadline) {
      try {
        if ((await fetch(`${base}/health`)).status > 0) return
      } catch { /* not listening yet */ }
      if (wrangler.exitCode !== null) break
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    throw new Error(`wrangler dev did not start:\n${output}`)
  })
  afterAll(() => {
    wrangler?.kill('SIGTERM')
    killLaunched()
  })

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    })
    return { status: response.status, json: await response.json() as any }
  }

  it('serves /health from workerd, with Postgres behind Hyperdrive and S3 blobs', async () => {
    const response = await fetch(`${base}/health`)
    expect(response.status, output).toBe(200)
    expect(await response.json()).toMatchObject({ status: 'ok', database: 'postgres', blob_store: 's3' })
  })

  it('creates, lists and gets jobs, with the same errors as under Node', async () => {
    const created = await call('POST', '/v1/training/jobs', { method: { type: 'noop', noop: { steps: 1 } } })
    expect(created.status, JSON.stringify(created.json)).toBe(201)
    expect(created.json).toMatchObject({ object: 'fine_tuning.job', kind: 'noop', status: 'queued', organization_id: 'workers' })
    const listed = await call('GET', '/v1/training/jobs')
    expect(listed.json.data.map((j: any) => j.id)).toEqual([created.json.id])
    const got = await call('GET', `/v1/training/jobs/${created.json.id}`)
    expect(got.json.id).toBe(created.json.id)
    const events = await call('GET', `/v1/training/jobs/${created.json.id}/events`)
    expect(events.json.data[0].message).toBe('Created noop job')
    const bad = await call('POST', '/v1/training/jobs', { method: { type: 'noop' }, extra: true })
    expect(bad).toMatchObject({ status: 400, json: { error: { code: 'unknown_parameter', param: 'extra' } } })
    expect((await fetch(`${base}/v1/training/jobs`)).status).toBe(401)
  })

  it('streams a chat from a GPU worker process, each step as it happens', async () => {
    const chat = { model: 'tiny-agent', max_tokens: 8, messages: [{ role: 'user', content: 'What is 2 + 2?' }], environment: { base_url: 'http://127.0.0.1:9/v1', model: 'm' } }
    // no worker yet: the Worker says so, with when to try again
    const early = await streamChat(base, key, chat)
    expect(early.status).toBe(503)
    expect(early.body.error.code).toBe('no_worker_available')
    expect(early.headers.get('retry-after')).toBe('5')

    const dir = mkdtempSync(join(tmpdir(), 'workerd-chat-'))
    makeTinyCheckpoint(join(dir, 'agent'), { seed: 5 })
    await launch('gpu-worker/main.ts', {
      DATABASE_URL: url, PROMPT_R1_DATA_DIR: dir, PROMPT_R1_CACHE: join(dir, 'cache'), PROMPT_R1_WORKER_TOKEN: token,
      PROMPT_R1_WORKER_PORT: String(await freePort()), PROMPT_R1_AGENT_MODEL: join(dir, 'agent'), PROMPT_R1_AGENT_NAME: 'tiny-agent',
      PROMPT_R1_ENGINE_THREADS: '1', PROMPT_R1_HEARTBEAT_SECONDS: '1', PROMPT_R1_LEASE_SECONDS: '3', S3_BUCKET: '',
    }, 'serving chat at')
    const models = await call('GET', '/v1/models')
    expect(models.json.data.map((m: { id: string }) => m.id)).toEqual(['tiny-agent'])
    const streamed = await streamChat(base, key, chat)
    expect(streamed.status, JSON.stringify(streamed.body)).toBe(200)
    const steps = streamed.data.filter((d) => d !== '[DONE]' && d.prompt_r1).map((d) => d.prompt_r1.type)
    expect(steps[0]).toBe('agent_turn')
    expect(steps.at(-1), JSON.stringify(streamed.data)).toBe('done')
    expect(streamed.data.at(-1)).toBe('[DONE]')
  })

  it('stores an uploaded dataset in S3 from inside workerd', async () => {
    const form = new FormData()
    form.set('file', new File(['{"question": "2 + 2?", "golds": ["4"]}\n'], 'tiny.jsonl'))
    form.set('purpose', 'evals')
    const response = await fetch(`${base}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form })
    const file = await response.json() as any
    expect(response.status, JSON.stringify(file)).toBe(201)
    expect(file).toMatchObject({ row_count: 1, format: 'jsonl' })
    const store = await testS3Store()
    const object = await store.client.send(new GetObjectCommand({ Bucket: TEST_BUCKET, Key: `projects/workers/files/${file.id}.jsonl` }))
    expect(await object.Body!.transformToString()).toContain('"golds": ["4"]')
  })
})
