// Which models a tenant may name: hf: names, its own checkpoints, and folders inside the operator's
// model folders; at the edge as written, and at the worker where the folder's links lead. A hub
// model that no live worker can load (offline, not in its cache) is refused at submit.
import { once } from 'node:events'
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { cachedHubModels, hubAccessProbe, hubReachable } from '../../gpu-worker/hub-access.ts'
import { modelSource } from '../../gpu-worker/model-source.ts'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import { insertCheckpoint } from '../../shared/db/checkpoints.ts'
import type { OpenDatabase } from '../../shared/db/database.ts'
import { createJob } from '../../shared/db/jobs.ts'
import { type HubAccess, workers } from '../../shared/db/schema.ts'
import { describePostgres, freshPostgres } from '../helpers/databases.ts'
import { expectApiError, testApp } from '../helpers/app.ts'
import { tempDir } from '../helpers/temp.ts'
import { freePort } from '../setup/postgres-cluster.ts'

describePostgres('model references', () => {
  let database: OpenDatabase
  let t: Awaited<ReturnType<typeof testApp>>
  let tenantA: string
  let tenantB: string
  let blobs: LocalBlobStore
  let models: string
  let outside: string
  let checkpointOfB: string

  beforeAll(async () => {
    database = await freshPostgres()
    blobs = new LocalBlobStore(tempDir())
    models = tempDir('models-')
    outside = tempDir('elsewhere-')
    for (const dir of [join(models, 'agent'), outside]) {
      mkdirSync(dir, { recursive: true })
      writeFileSync(join(dir, 'config.json'), '{}')
    }
    symlinkSync(outside, join(models, 'link-out'))
    t = await testApp(database, blobs, { PROMPT_R1_MODEL_FOLDERS: models })
    tenantA = await t.projectKey('tenant-a')
    tenantB = await t.projectKey('tenant-b')
    const job = await createJob(database.db, { projectId: 'tenant-b', kind: 'noop', config: {}, maxAttempts: 1 })
    const stored = await blobs.put('b/merged/config.json', new TextEncoder().encode('{}'))
    checkpointOfB = (await insertCheckpoint(database.db, {
      projectId: 'tenant-b', jobId: job.id, step: 1, kind: 'merged', files: { merged: [{ path: 'config.json', blobKey: 'b/merged/config.json', ...stored }] },
    })).id
  })
  afterAll(async () => { await database?.close() })

  const train = (model: string, key = tenantA) => t.request('POST', '/v1/training/jobs', { key, json: { model, method: { type: 'noop' } } })
  const evaluate = (model: string, key = tenantA) => t.request('POST', '/v1/evaluations', {
    key, json: { datasets: ['gsm8k'], modes: ['agent'], environment: { base_url: 'http://e.example/v1', model: 'm' }, agent: { model } },
  })

  it('accepts hf: names, the caller\'s checkpoints and folders inside the model folders', async () => {
    expect((await train('hf:Qwen/Qwen3-0.6B')).status).toBe(201)
    expect((await train(join(models, 'agent'))).status).toBe(201)
    expect((await train(checkpointOfB, tenantB)).status).toBe(201)
    expect((await evaluate(join(models, 'agent'))).status).toBe(201)
  })

  it('refuses other folders, climbing out, bare hub names and other projects\' checkpoints', async () => {
    for (const model of [outside, '/etc', `${models}/../${outside.split('/').pop()}`, `${models}-sibling/agent`, 'agent', '']) {
      const response = await train(model)
      expect(response.status, `${model}: ${response.text}`).toBe(400)
      expect(response.json.error.param).toBe('model')
      expect(response.text).not.toContain(models) // the operator's folders are not shown
    }
    const bare = await train('Qwen/Qwen3-0.6B')
    expectApiError(bare, 400, 'model_not_allowed', 'model')
    expect(bare.json.error.message).toContain("write 'hf:Qwen/Qwen3-0.6B'")
    expectApiError(await train(checkpointOfB), 404, 'not_found', 'model')
    expectApiError(await evaluate(outside), 400, 'model_not_allowed', 'agent.model')
    expectApiError(await evaluate(checkpointOfB), 404, 'not_found', 'agent.model')
  })

  it('refuses at the worker a folder whose links lead outside, and another project\'s checkpoint', async () => {
    const access = { db: database.db, blobs, projectId: 'tenant-a', modelFolders: [models] }
    await expect(modelSource(join(models, 'agent'), access)).resolves.toMatch(/agent$/)
    await expect(modelSource(join(models, 'link-out'), access)).rejects.toThrow(/leads outside this server's model folders/)
    await expect(modelSource(outside, access)).rejects.toThrow(/not inside this server's model folders/)
    await expect(modelSource(checkpointOfB, access)).rejects.toThrow(/no checkpoint .* in this project/)
    await expect(modelSource(checkpointOfB, { ...access, projectId: 'tenant-b' })).resolves.toMatchObject({ prefix: 'b/merged' })
  })
})

describePostgres('hub models no worker can load', () => {
  let database: OpenDatabase
  let t: Awaited<ReturnType<typeof testApp>>
  beforeAll(async () => {
    database = await freshPostgres()
    t = await testApp(database, new LocalBlobStore(tempDir()))
  })
  afterAll(async () => { await database?.close() })

  const grpo = (model: string) => t.request('POST', '/v1/training/jobs', {
    json: { model, training_file: 'arithmetic', environment: { builtin: 'arithmetic' }, method: { type: 'grpo', grpo: { hyperparameters: { steps: 1 } } } },
  })
  const evaluate = (model: string) => t.request('POST', '/v1/evaluations', {
    json: { datasets: ['gsm8k'], modes: ['agent'], environment: { builtin: 'arithmetic' }, agent: { model } },
  })
  // a job worker as its heartbeat leaves it, `secondsAgo` old
  const worker = (id: string, kinds: string[], hub: HubAccess | null, secondsAgo = 0) => database.db.insert(workers)
    .values({ id, hostname: 'h', kinds, hub, lastSeenAt: sql`now() - make_interval(secs => ${secondsAgo})` })
    .onConflictDoUpdate({ target: workers.id, set: { kinds, hub, lastSeenAt: sql`now() - make_interval(secs => ${secondsAgo})` } })

  it('are refused at submit when every live worker of the job\'s kind is offline without the model cached', async () => {
    // no worker at all: the job waits for one
    expect((await grpo('hf:Qwen/Qwen3-0.6B')).status).toBe(201)
    await worker('offline', ['train', 'eval'], { reachable: false, cached: ['Qwen/Qwen3-1.7B'] })
    const refused = await grpo('hf:Qwen/Qwen3-0.6B')
    expectApiError(refused, 400, 'model_unreachable', 'model')
    expect(refused.json.error.message).toContain("the one live worker that runs train jobs reaches the Hugging Face hub or has Qwen/Qwen3-0.6B in its cache")
    expectApiError(await evaluate('hf:Qwen/Qwen3-0.6B'), 400, 'model_unreachable', 'agent.model')
    // the estimate says so too; a noop job loads no model
    expectApiError(await t.request('POST', '/v1/training/jobs/estimate', { json: { model: 'hf:Qwen/Qwen3-0.6B', training_file: 'arithmetic', environment: { builtin: 'arithmetic' } } }), 400, 'model_unreachable', 'model')
    expect((await t.request('POST', '/v1/training/jobs', { json: { model: 'hf:Qwen/Qwen3-0.6B', method: { type: 'noop' } } })).status).toBe(201)
    // what the worker has in its cache it loads offline
    expect((await grpo('hf:Qwen/Qwen3-1.7B')).status).toBe(201)
  })

  it('are accepted when some live worker might load them: it reaches the hub, has not said, or has it cached', async () => {
    await worker('offline', ['train', 'eval'], { reachable: false, cached: [] })
    for (const hub of [{ reachable: true, cached: [] }, { reachable: null, cached: [] }, null, { reachable: false, cached: ['Qwen/Qwen3-0.6B'] }]) {
      await worker('other', ['train'], hub)
      expect((await grpo('hf:Qwen/Qwen3-0.6B')).status, JSON.stringify(hub)).toBe(201)
    }
    // a worker that reaches the hub but is stale, or takes only other kinds, does not count
    await worker('other', ['train'], { reachable: true, cached: [] }, 3600)
    expectApiError(await grpo('hf:Qwen/Qwen3-0.6B'), 400, 'model_unreachable', 'model')
    await worker('other', ['noop'], { reachable: true, cached: [] })
    expectApiError(await grpo('hf:Qwen/Qwen3-0.6B'), 400, 'model_unreachable', 'model')
    await worker('offline', ['train', 'eval'], { reachable: false, cached: [] }, 3600)
  })
})

it('a worker reports the hub models complete in its cache, and whether the hub answers', async () => {
  const cache = tempDir('hub-cache-')
  for (const [repo, revision, complete] of [['Qwen--Qwen3-0.6B', 'main', true], ['Qwen--Qwen3-4B', 'main', false], ['org--name--with--dashes', 'v2', true]] as const) {
    mkdirSync(join(cache, 'hub', repo, revision), { recursive: true })
    if (complete) writeFileSync(join(cache, 'hub', repo, revision, '.complete'), '')
  }
  expect(cachedHubModels(cache)).toEqual(['Qwen/Qwen3-0.6B', 'org/name--with--dashes@v2'])
  expect(cachedHubModels(tempDir())).toEqual([])
  const server = createServer((_, response) => response.writeHead(404).end()).listen(0, '127.0.0.1')
  await once(server, 'listening')
  try {
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    expect(await hubReachable(endpoint)).toBe(true)
    const probe = hubAccessProbe(cache, endpoint)
    expect(probe()).toEqual({ reachable: null, cached: ['Qwen/Qwen3-0.6B', 'org/name--with--dashes@v2'] })
    await expect.poll(() => probe().reachable).toBe(true)
  } finally {
    server.close()
  }
  expect(await hubReachable(`http://127.0.0.1:${await freePort()}`)).toBe(false)
})
