// The evaluation API end to end on a Postgres server: a real worker runs eval jobs with a tiny
// agent model (loaded from a checkpoint in the blob store, as a trained agent would be) against the
// deterministic arithmetic environment; results as JSON, markdown, JSONL and CSV; bad inputs,
// tenant isolation, cancellation; and the runner resuming an interrupted job on its next attempt.
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { makeTinyCheckpoint } from '../../gpu-worker/engine/tiny.ts'
import { createRunners } from '../../gpu-worker/runners/index.ts'
import { createEvalRunner } from '../../gpu-worker/runners/eval.ts'
import { TEST_ENGINE, TEST_MODEL_FOLDERS } from '../helpers/engine.ts'
import type { NewEvent } from '../../shared/db/jobs.ts'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import { insertCheckpoint } from '../../shared/db/checkpoints.ts'
import type { OpenDatabase } from '../../shared/db/database.ts'
import { createJob, getJob } from '../../shared/db/jobs.ts'
import { PROBE_PROMPT } from '../../shared/protocol/environment.ts'
import { createEvaluationBody } from '../../shared/job-config.ts'
import { BlobRowStore, evalRowsPrefix } from '../../shared/eval/store.ts'
import type { EvalSummary } from '../../shared/eval/summary.ts'
import { HASHED_EMBEDDER_NAME, HashedBagOfWordsEmbedder, semanticSimilarity } from '../../shared/protocol/metrics.ts'
import { SentenceEmbedder } from '../../gpu-worker/eval/embedder.ts'
import { fileURLToPath } from 'node:url'
import { describePostgres, freshPostgres } from '../helpers/databases.ts'
import { expectApiError, testApp } from '../helpers/app.ts'
import { until } from '../helpers/wait.ts'
import { type DeterministicArithmeticEnv, startDeterministicArithmeticEnv } from '../protocol/deterministic-arithmetic-env.ts'

describePostgres('evaluation API', () => {
  let database: OpenDatabase
  let blobs: LocalBlobStore
  let env: DeterministicArithmeticEnv
  let t: Awaited<ReturnType<typeof testApp>>
  let tenantA: string
  let tenantB: string
  let agentFolder: string
  let checkpointId: string
  const dir = mkdtempSync(join(tmpdir(), 'eval-api-'))

  beforeAll(async () => {
    // the engine builds and caches the agent's ONNX graph here, not in the home folder
    process.env.PROMPT_R1_CACHE = join(dir, 'engine-cache')
    database = await freshPostgres()
    blobs = new LocalBlobStore(join(dir, 'blobs'))
    env = await startDeterministicArithmeticEnv()
    t = await testApp(database, blobs, { PROMPT_R1_ALLOW_LOOPBACK_ENVIRONMENT: 'true' })
    await t.worker.start()
    tenantA = await t.projectKey('tenant-a')
    tenantB = await t.projectKey('tenant-b')
    agentFolder = join(dir, 'agent')
    makeTinyCheckpoint(agentFolder, { seed: 11 })
    // the agent as a trained one arrives: a merged checkpoint in the blob store
    const job = await createJob(database.db, { projectId: 'tenant-a', kind: 'noop', config: {}, maxAttempts: 1, status: 'succeeded' })
    const files = await Promise.all(readdirSync(agentFolder).filter((f) => statSync(join(agentFolder, f)).isFile()).map(async (path) => {
      const blobKey = `checkpoints/${job.id}/merged/${path}`
      return { path, blobKey, ...(await blobs.put(blobKey, new Uint8Array(readFileSync(join(agentFolder, path))))) }
    }))
    checkpointId = (await insertCheckpoint(database.db, { projectId: 'tenant-a', jobId: job.id, step: 1, kind: 'merged', files: { merged: files } })).id
  })
  afterAll(async () => {
    await t?.worker.stop()
    await env?.close()
    await database?.close()
  })

  const body = (extra: Record<string, unknown> = {}) => ({
    datasets: ['gsm8k'], max_rows: 4, batch_size: 2,
    environment: { base_url: env.baseURL, model: 'arithmetic', api_key: 'sk-secret-test-key' },
    agent: { checkpoint: checkpointId, max_new_tokens_per_turn: 24 },
    ...extra,
  })

  it('runs an evaluation through the worker and serves its results in every format', async () => {
    const created = await t.request('POST', '/v1/evaluations', { key: tenantA, json: body() })
    expect(created.status).toBe(201)
    expect(created.json).toMatchObject({ object: 'evaluation', status: 'queued', modes: ['direct', 'cot', 'agent'], organization_id: 'tenant-a' })
    expect(created.json.id).toMatch(/^evaljob-/)
    expect(created.json.environment).toMatchObject({ base_url: env.baseURL, model: 'arithmetic', api_key_set: true })
    expect(created.text).not.toContain('sk-secret-test-key')
    const id = created.json.id

    const done = await until(async () => {
      const job = await t.request('GET', `/v1/evaluations/${id}`, { key: tenantA })
      return ['succeeded', 'failed', 'cancelled'].includes(job.json.status) ? job.json : undefined
    })
    expect(done.error).toBeNull()
    expect(done.status).toBe('succeeded')
    expect(done.result.table_markdown).toMatch(/^\| Method \| gsm8k \(EM\) \|/)

    const events = await t.request('GET', `/v1/evaluations/${id}/events?limit=1000`, { key: tenantA })
    const metrics = events.json.data.filter((e: any) => e.type === 'metrics')
    expect(metrics.map((e: any) => e.data.rows_done)).toEqual([2, 4, 6, 8, 10, 12])
    expect(metrics.at(-1).data).toMatchObject({ rows_total: 12, progress: 1, dataset: 'gsm8k', mode: 'agent' })
    expect(events.json.data[0].id).toBe(`evalevent-${id}-1`)
    const later = await t.request('GET', `/v1/evaluations/${id}/events?after=${metrics[0].id}`, { key: tenantA })
    expect(later.json.data[0].seq).toBe(metrics[0].seq + 1)

    const results = await t.request('GET', `/v1/evaluations/${id}/results`, { key: tenantA })
    expect(results.json).toMatchObject({ object: 'evaluation.results', evaluation_id: id, status: 'succeeded', partial: false })
    const gsm8k = results.json.summary.datasets[0]
    expect(gsm8k).toMatchObject({ label: 'gsm8k', kind: 'math', group: 'in-distribution' })
    expect(gsm8k.modes.agent.rows).toBe(4)
    expect(gsm8k.modes.agent.agent_tokens.total).toBeGreaterThan(0)
    expect(gsm8k.modes.direct.environment_tokens.prompt).toBeGreaterThan(0)
    expect(gsm8k.agent_minus_direct.em.ci).toHaveLength(2)

    const jsonl = await t.request('GET', `/v1/evaluations/${id}/results?format=jsonl`, { key: tenantA })
    expect(jsonl.headers.get('content-type')).toMatch(/^application\/x-ndjson/)
    expect(jsonl.headers.get('content-disposition')).toBe(`attachment; filename="${id}.jsonl"`)
    const rows = jsonl.text.trim().split('\n').map((line) => JSON.parse(line))
    expect(rows.map((r) => `${r.row}${r.mode}`)).toEqual(['0direct', '0cot', '0agent', '1direct', '1cot', '1agent', '2direct', '2cot', '2agent', '3direct', '3cot', '3agent'])
    const agentRow = rows.find((r) => r.mode === 'agent')
    expect(agentRow.trajectory.length).toBeGreaterThan(0)
    expect(agentRow.golds).toEqual(expect.arrayContaining([expect.any(String)]))
    const csv = await t.request('GET', `/v1/evaluations/${id}/results?format=csv`, { key: tenantA })
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/)
    expect(csv.text.split('\r\n')[0]).toMatch(/^dataset,row,mode,prediction,golds,em,/)
    const markdown = await t.request('GET', `/v1/evaluations/${id}/results?format=markdown`, { key: tenantA })
    expect(markdown.text).toBe(done.result.table_markdown)

    const listed = await t.request('GET', '/v1/evaluations', { key: tenantA })
    expect(listed.json).toMatchObject({ object: 'list', has_more: false })
    expect(listed.json.data.map((e: any) => e.id)).toContain(id)
    expect((await t.request('GET', '/v1/training/jobs', { key: tenantA })).json.data.map((j: any) => j.id)).not.toContain(id)
    expectApiError(await t.request('GET', `/v1/training/jobs/${id}`, { key: tenantA }), 404, 'not_found')
    expectApiError(await t.request('POST', `/v1/evaluations/${id}/cancel`, { key: tenantA }), 409, 'job_not_cancellable')

    // another tenant sees nothing of it
    for (const path of [`/v1/evaluations/${id}`, `/v1/evaluations/${id}/events`, `/v1/evaluations/${id}/results`, `/v1/evaluations/${id}/results?format=csv`]) {
      expectApiError(await t.request('GET', path, { key: tenantB }), 404, 'not_found')
    }
    expectApiError(await t.request('POST', `/v1/evaluations/${id}/cancel`, { key: tenantB }), 404, 'not_found')
    expect((await t.request('GET', '/v1/evaluations', { key: tenantB })).json.data).toEqual([])
    // nor its agent checkpoint
    expectApiError(await t.request('POST', '/v1/evaluations', { key: tenantB, json: body() }), 404, 'not_found', 'agent.checkpoint')
  })

  it('fails an evaluation whose environment does not answer as environment_unavailable, without the key', async () => {
    const created = await t.request('POST', '/v1/evaluations', {
      key: tenantA,
      json: body({ modes: ['direct'], agent: undefined, environment: { base_url: 'http://127.0.0.1:1/v1', model: 'arithmetic', api_key: 'sk-secret-test-key', max_retries: 0 } }),
    })
    expect(created.status).toBe(201)
    const done = await until(async () => {
      const job = await t.request('GET', `/v1/evaluations/${created.json.id}`, { key: tenantA })
      return ['succeeded', 'failed', 'cancelled'].includes(job.json.status) ? job : undefined
    })
    expect(done.json.status).toBe('failed')
    expect(done.json.error).toMatchObject({ code: 'environment_unavailable', message: expect.stringMatching(/^the environment LLM did not answer a test call: /) })
    expect(done.text).not.toContain('sk-secret-test-key')
  })

  it('refuses bad inputs with a 4xx naming the field', async () => {
    const post = (json: unknown, key = tenantA) => t.request('POST', '/v1/evaluations', { key, json })
    expectApiError(await post(body({ datasets: ['gsm9k'] })), 400, 'invalid_parameter', 'datasets.0.name')
    expectApiError(await post(body({ datasets: [{ path: '/etc/passwd' }] })), 400, 'invalid_parameter', 'datasets.0.path')
    expectApiError(await post(body({ datasets: [{ file_id: 'file-nope' }] })), 404, 'not_found', 'datasets.0.file_id')
    expectApiError(await post(body({ agent: undefined })), 400, 'missing_required_parameter', 'agent')
    expectApiError(await post(body({ agent: { checkpoint: 'ckpt-nope' } })), 404, 'not_found', 'agent.checkpoint')
    expectApiError(await post(body({ modes: ['oracle'] })), 400, 'invalid_parameter', 'modes.0')
    expectApiError(await post(body({ max_rows: 0 })), 400, 'invalid_parameter', 'max_rows')
    expectApiError(await post(body({ surprise: 1 })), 400, 'unknown_parameter', 'surprise')
    expectApiError(await post({ ...body(), environment: { model: 'm' } }), 400, 'missing_required_parameter', 'environment.base_url')
    expectApiError(await post(body({ environment: { base_url: 'http://169.254.169.254/v1', model: 'm' } })), 400, 'environment_not_allowed', 'environment.base_url')
    expectApiError(await post(body({ environment: { base_url: 'file:///etc/passwd', model: 'm' } })), 400, 'invalid_parameter', 'environment.base_url')
    expectApiError(await post(body({ environment: { base_url: 'not a url', model: 'm' } })), 400, 'invalid_parameter', 'environment.base_url')
    expectApiError(await t.request('POST', '/v1/evaluations', { key: tenantA, body: '{', headers: { 'content-type': 'application/json' } }), 400, 'invalid_json')
    expectApiError(await t.request('GET', '/v1/evaluations?limit=0', { key: tenantA }), 400, 'invalid_parameter', 'limit')
    expectApiError(await t.request('GET', '/v1/evaluations?after=evaljob-nope', { key: tenantA }), 400, 'invalid_cursor', 'after')
    expectApiError(await t.request('GET', '/v1/evaluations/evaljob-nope', { key: tenantA }), 404, 'not_found')
    expectApiError(await t.request('GET', '/v1/evaluations/bad%20id/results', { key: tenantA }), 404, 'not_found')
    const any = (await t.request('GET', '/v1/evaluations', { key: tenantA })).json.data[0].id
    expectApiError(await t.request('GET', `/v1/evaluations/${any}/results?format=xlsx`, { key: tenantA }), 400, 'invalid_parameter', 'format')
    expectApiError(await t.request('GET', `/v1/evaluations/${any}/events?after=x`, { key: tenantA }), 400, 'invalid_parameter', 'after')
    expectApiError(await t.request('GET', '/v1/evaluations', { key: null }), 401, 'missing_api_key')

    // a server that does not allow loopback environments refuses this one
    const strict = await testApp(database, blobs, { PROMPT_R1_ALLOW_LOOPBACK_ENVIRONMENT: 'false' })
    expectApiError(await strict.request('POST', '/v1/evaluations', { json: body({ modes: ['direct'], agent: undefined }) }), 400, 'environment_not_allowed', 'environment.base_url')
  })

  it('cancels a running evaluation', async () => {
    const created = await t.request('POST', '/v1/evaluations', {
      key: tenantA, json: body({ datasets: ['gsm8k', 'hotpot'], modes: ['direct'], agent: undefined, max_rows: undefined, batch_size: 1, environment: { base_url: env.baseURL, model: 'slow', cache: false } }),
    })
    await until(async () => ((await t.request('GET', `/v1/evaluations/${created.json.id}/events`, { key: tenantA })).json.data.some((e: any) => e.type === 'metrics') ? true : undefined))
    const cancelled = await t.request('POST', `/v1/evaluations/${created.json.id}/cancel`, { key: tenantA })
    expect(['cancelling', 'cancelled']).toContain(cancelled.json.status)
    const final = await until(async () => {
      const job = (await t.request('GET', `/v1/evaluations/${created.json.id}`, { key: tenantA })).json
      return job.status === 'cancelled' ? job : undefined
    })
    expect(final.finished_at).toEqual(expect.any(Number))
    // what was scored before the cancellation is still there
    const partial = await t.request('GET', `/v1/evaluations/${created.json.id}/results`, { key: tenantA })
    expect(partial.json.partial).toBe(true)
    expect(partial.json.summary.rows_scored).toBeGreaterThan(0)
    expect(partial.json.summary.rows_scored).toBeLessThan(256)
  })

  it('refuses, at the worker, an environment whose name resolves to a refused address', async () => {
    const config = createEvaluationBody.parse({
      datasets: ['gsm8k'], max_rows: 1, modes: ['direct'], environment: { base_url: env.baseURL.replace('127.0.0.1', 'localhost'), model: 'm' },
    })
    const job = await createJob(database.db, { projectId: 'tenant-a', kind: 'eval', config, maxAttempts: 1, status: 'succeeded' })
    const ctx = { job, db: database.db, blobs, signal: new AbortController().signal, event: async () => {}, progress: () => {} }
    const before = env.requests.length
    // the runners as a worker makes them from its configuration
    await expect(createRunners({ engine: TEST_ENGINE, environment: undefined, allowLoopbackEnvironment: false, modelFolders: TEST_MODEL_FOLDERS, similarityModel: 'hashed' }).eval!(ctx)).rejects.toThrow(/resolves to (127\.0\.0\.1|::1)/)
    expect(env.requests.length).toBe(before)
    await expect(createEvalRunner({ engine: TEST_ENGINE, allowLoopbackEnvironment: true, modelFolders: TEST_MODEL_FOLDERS, similarityModel: 'hashed' })(ctx)).resolves.toMatchObject({ result: { summary: { rows_scored: 1 } } })
  })

  it('resumes an interrupted job on its next attempt without re-running scored rows', async () => {
    const config = createEvaluationBody.parse({
      datasets: ['gsm8k'], max_rows: 6, batch_size: 2, modes: ['direct', 'agent'],
      environment: { base_url: env.baseURL, model: 'resume', cache: false }, agent: { model: agentFolder, max_new_tokens_per_turn: 16 },
    })
    const job = await createJob(database.db, { projectId: 'tenant-a', kind: 'eval', config, maxAttempts: 3, status: 'succeeded' })
    const runner = createEvalRunner({ engine: TEST_ENGINE, allowLoopbackEnvironment: true, modelFolders: TEST_MODEL_FOLDERS, similarityModel: 'hashed' })
    const events: NewEvent[] = []
    const abort = new AbortController()
    const ctx = (attempt: number, signal: AbortSignal) => ({
      job: { ...job, attempt }, db: database.db, blobs, signal,
      event: async (e: NewEvent) => {
        events.push(e)
        if (e.type === 'metrics' && e.data?.rows_done === 4) abort.abort(new Error('lease lost'))
      },
      progress: () => {},
    })
    await expect(runner(ctx(1, abort.signal))).rejects.toThrow('lease lost')
    const before = env.requests.length
    const { result } = await runner(ctx(2, new AbortController().signal))
    expect(events.find((e) => e.message.startsWith('Resuming'))?.message).toBe('Resuming: 4 rows already scored are kept')
    expect(events.filter((e) => e.type === 'metrics').map((e) => e.data?.rows_done)).toEqual([2, 4, 6, 8, 10, 12])
    // 2 of the 4 direct rows were left to ask; the agent's calls, if any, are its own; one test call first
    const asked = env.requests.slice(before).filter((r) => r.messages.length === 1).map((r) => r.messages[0].content)
    expect(asked[0]).toBe(PROBE_PROMPT)
    expect(asked.length).toBe(5)
    const summary = (result as any).summary
    expect(summary.rows_scored).toBe(12)
    expect(summary.datasets[0].modes.direct.rows).toBe(6)
    expect((await getJob(database.db, 'tenant-a', job.id))?.id).toBe(job.id)
  })

  it('scores the long-form sets with the configured sentence-embedding model, or says that it fell back to word overlap', async () => {
    const config = createEvaluationBody.parse({ datasets: ['BookSum'], max_rows: 2, modes: ['direct'], environment: { base_url: env.baseURL, model: 'similarity' } })
    const run = async (similarityModel: string) => {
      const job = await createJob(database.db, { projectId: 'tenant-a', kind: 'eval', config, maxAttempts: 1, status: 'succeeded' })
      const events: NewEvent[] = []
      const runner = createEvalRunner({ engine: TEST_ENGINE, allowLoopbackEnvironment: true, modelFolders: TEST_MODEL_FOLDERS, similarityModel })
      const { result } = await runner({ job, db: database.db, blobs, signal: new AbortController().signal, event: async (e: NewEvent) => { events.push(e) }, progress: () => {} })
      const rows = await new BlobRowStore(blobs, evalRowsPrefix(job.id)).load()
      return { result: result as { summary: EvalSummary; table_markdown: string }, events, rows }
    }

    // the tiny random BERT the reference tests build, saved as a sentence-transformers folder
    const model = fileURLToPath(new URL('../reference/fixtures/embeddings/model', import.meta.url))
    const withModel = await run(model)
    expect(withModel.result.summary.similarity_embedder).toBe(model)
    expect(withModel.result.table_markdown).toContain(`(embedder: ${model})`)
    expect(withModel.events.filter((e) => e.level === 'warn')).toEqual([])
    const embedder = await SentenceEmbedder.load(model, { threads: 1 })
    try {
      for (const row of withModel.rows) {
        expect(row.similarity_embedder).toBe(model)
        expect(row.scores.similarity).toBeCloseTo(await semanticSimilarity(row.prediction, row.golds, embedder), 6)
      }
    } finally {
      await embedder.dispose()
    }

    const missing = join(dir, 'no-such-embedder')
    const fallback = await run(missing)
    expect(fallback.result.summary.similarity_embedder).toBe(HASHED_EMBEDDER_NAME)
    expect(fallback.events.find((e) => e.level === 'warn')?.message).toMatch(new RegExp(`^similarity: the embedding model ${missing} could not be loaded .*PROMPT_R1_SIMILARITY_MODEL`))
    for (const row of fallback.rows) {
      expect(row.similarity_embedder).toBe(HASHED_EMBEDDER_NAME)
      expect(row.scores.similarity).toBeCloseTo(await semanticSimilarity(row.prediction, row.golds, new HashedBagOfWordsEmbedder()), 12)
    }
    expect(withModel.rows.map((r) => r.prediction)).toEqual(fallback.rows.map((r) => r.prediction))
    expect(withModel.rows.some((r, i) => Math.abs(r.scores.similarity! - fallback.rows[i].scores.similarity!) > 1e-3)).toBe(true)
  })
})
