// The edge API end to end through Hono's app.request, on a Postgres server: every route, its
// bad inputs, tenant isolation, and the noop job flow through a real worker.
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it, vi } from 'vitest'
import { KEY_CACHE_MS } from '../../edge/auth.ts'
import { revokeApiKey } from '../../shared/db/api-keys.ts'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import { insertCheckpoint } from '../../shared/db/checkpoints.ts'
import type { OpenDatabase } from '../../shared/db/database.ts'
import { appendEvent, createJob } from '../../shared/db/jobs.ts'
import { createTrainingJobBody } from '../../shared/job-config.ts'
import { sql } from 'drizzle-orm'
import { sha256Hex } from '../../shared/ids.ts'
import { describePostgres, freshPostgres } from '../helpers/databases.ts'
import { expectApiError, testApp } from '../helpers/app.ts'
import { until } from '../helpers/wait.ts'
import { testS3Store } from '../helpers/s3.ts'

const SHARED_GSM8K = join(import.meta.dirname, '../../../shared/datasets/prompt-r1/eval_data/gsm8k.parquet')
const plainRows = (n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ question: `What is ${i} + ${i}?`, golds: [String(2 * i)] })).join('\n') + '\n'

function upload(content: string | Uint8Array, filename: string, fields: Record<string, string> = { purpose: 'fine-tune' }) {
  const form = new FormData()
  form.set('file', new File([content as BlobPart], filename))
  for (const [k, v] of Object.entries(fields)) form.set(k, v)
  return form
}

describePostgres('edge API', () => {
  let database: OpenDatabase
  let t: Awaited<ReturnType<typeof testApp>>
  let tenantA: string
  let tenantB: string
  let blobs: LocalBlobStore

  beforeAll(async () => {
    database = await freshPostgres()
    blobs = new LocalBlobStore(mkdtempSync(join(tmpdir(), 'api-blobs-')))
    t = await testApp(database, blobs, {
      PROMPT_R1_MAX_BODY_BYTES: '4096', PROMPT_R1_MAX_UPLOAD_BYTES: String(256 * 1024),
    })
    await t.worker.start()
    tenantA = await t.projectKey('tenant-a')
    tenantB = await t.projectKey('tenant-b')
  })
  afterAll(async () => {
    await t.worker.stop()
    await database.close()
  })


  it('GET /health needs no key and reports the parts', async () => {
    const response = await t.request('GET', '/health', { key: null })
    expect(response.status).toBe(200)
    expect(response.json).toMatchObject({ status: 'ok', database: 'postgres', blob_store: 'local' })
  })

  it('sends / to the dashboard and serves a favicon, without a key', async () => {
    const root = await t.request('GET', '/', { key: null })
    expect(root.status).toBe(302)
    expect(root.headers.get('location')).toBe('/dashboard')
    const icon = await t.request('GET', '/favicon.ico', { key: null })
    expect(icon.status).toBe(200)
    expect(icon.headers.get('content-type')).toBe('image/svg+xml')
    expect(icon.text).toMatch(/^<svg /)
  })

  it('refuses missing, malformed, unknown and revoked keys', async () => {
    expectApiError(await t.request('GET', '/v1/training/jobs', { key: null }), 401, 'missing_api_key')
    expectApiError(await t.request('GET', '/v1/training/jobs', { key: null, headers: { authorization: 'Basic abc' } }), 401, 'invalid_api_key')
    expectApiError(await t.request('GET', '/v1/training/jobs', { key: 'pr1-not-a-real-key' }), 401, 'invalid_api_key')
    const created = await t.request('POST', '/v1/api_keys', { json: { name: 'short-lived', project_id: 'tenant-a' } })
    expect((await t.request('GET', '/v1/files', { key: created.json.secret })).status).toBe(200)
    const revoked = await t.request('DELETE', `/v1/api_keys/${created.json.id}`)
    expect(revoked.json).toMatchObject({ id: created.json.id, deleted: true })
    expect(revoked.json.revoked_at).toEqual(expect.any(Number))
    expectApiError(await t.request('GET', '/v1/files', { key: created.json.secret }), 401, 'revoked_api_key')
  })

  it('honours a key revoked by another edge process within the key cache\'s time', async () => {
    const created = await t.request('POST', '/v1/api_keys', { json: { name: 'revoked elsewhere', project_id: 'tenant-a' } })
    expect((await t.request('GET', '/v1/files', { key: created.json.secret })).status).toBe(200)
    await revokeApiKey(database.db, created.json.id) // as another edge (or psql) would
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + KEY_CACHE_MS + 1 })
    try {
      expectApiError(await t.request('GET', '/v1/files', { key: created.json.secret }), 401, 'revoked_api_key')
    } finally {
      vi.useRealTimers()
    }
  })

  it('manages API keys (admin only), showing each secret once', async () => {
    const created = await t.request('POST', '/v1/api_keys', { json: { name: 'ci', project_id: 'tenant-c' } })
    expect(created.status).toBe(201)
    expect(created.json).toMatchObject({ object: 'api_key', name: 'ci', project_id: 'tenant-c', admin: false })
    expect(created.json.secret.startsWith(created.json.prefix)).toBe(true)
    const listed = await t.request('GET', '/v1/api_keys')
    expect(listed.json.data.find((k: any) => k.id === created.json.id)).toMatchObject({ prefix: created.json.prefix })
    expect(listed.text).not.toContain(created.json.secret)
    expectApiError(await t.request('GET', '/v1/api_keys', { key: tenantA }), 403, 'permission_denied')
    expectApiError(await t.request('POST', '/v1/api_keys', { key: tenantA, json: { name: 'x' } }), 403, 'permission_denied')
    expectApiError(await t.request('DELETE', '/v1/api_keys/key-nope'), 404, 'not_found')
    expectApiError(await t.request('POST', '/v1/api_keys', { json: { name: 'x', project_id: '../etc' } }), 400, 'invalid_parameter', 'project_id')
    expectApiError(await t.request('POST', '/v1/api_keys', { json: { name: 'x', admin: 'yes' } }), 400, 'invalid_parameter', 'admin')
    expectApiError(await t.request('POST', '/v1/api_keys', { json: { name: 'x', scopes: [] } }), 400, 'unknown_parameter', 'scopes')
    expectApiError(await t.request('POST', '/v1/api_keys', { json: {} }), 400, 'missing_required_parameter', 'name')
  })

  it('rejects malformed JSON, the wrong content type and bodies over the limit', async () => {
    expectApiError(await t.request('POST', '/v1/training/jobs', { body: '{"method": ', headers: { 'content-type': 'application/json' } }), 400, 'invalid_json')
    expectApiError(await t.request('POST', '/v1/training/jobs', { body: 'model=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type')
    expectApiError(await t.request('POST', '/v1/training/jobs', { json: { model: 'x'.repeat(5000) } }), 413, 'request_too_large')
    // a declared length is judged from the header, before any of the body is read
    expectApiError(await t.request('POST', '/v1/training/jobs', { json: { model: 'x' }, headers: { 'content-length': '5000' } }), 413, 'request_too_large')
    expectApiError(await t.request('POST', '/v1/training/jobs', { json: [1, 2] }), 400, 'invalid_parameter')
    expectApiError(await t.request('GET', '/v1/nothing-here'), 404, 'not_found')
  })

  it('uploads JSONL and verl parquet datasets, validated row by row', async () => {
    const jsonl = await t.request('POST', '/v1/files', { key: tenantA, body: upload(plainRows(3), 'plain.jsonl') })
    expect(jsonl.status).toBe(201)
    expect(jsonl.json).toMatchObject({ object: 'file', filename: 'plain.jsonl', format: 'jsonl', row_count: 3, purpose: 'fine-tune' })
    expect(jsonl.json.sha256).toBe(await sha256Hex(plainRows(3)))
    const parquet = await t.request('POST', '/v1/files', { key: tenantA, body: upload(new Uint8Array(readFileSync(SHARED_GSM8K)), 'gsm8k.parquet', { purpose: 'evals' }) })
    expect(parquet.status).toBe(201)
    expect(parquet.json).toMatchObject({ format: 'parquet', row_count: 128 })
    expect(parquet.json.validation.sample[0].golds).toEqual(['30'])
    const got = await t.request('GET', `/v1/files/${jsonl.json.id}`, { key: tenantA })
    expect(got.json.id).toBe(jsonl.json.id)
    const page = await t.request('GET', '/v1/files?limit=1', { key: tenantA })
    expect(page.json).toMatchObject({ object: 'list', has_more: true })
    expect(page.json.data[0].id).toBe(parquet.json.id)
    const next = await t.request('GET', `/v1/files?limit=1&after=${parquet.json.id}`, { key: tenantA })
    expect(next.json.data[0].id).toBe(jsonl.json.id)
    // another tenant sees nothing of it
    expectApiError(await t.request('GET', `/v1/files/${jsonl.json.id}`, { key: tenantB }), 404, 'not_found')
    expect((await t.request('GET', '/v1/files', { key: tenantB })).json.data).toEqual([])
  })

  it('refuses bad uploads with the row and field named', async () => {
    const badRows = plainRows(2) + '{"question": "Where?", "golds": []}\nnot json\n'
    const bad = await t.request('POST', '/v1/files', { key: tenantA, body: upload(badRows, 'bad.jsonl') })
    expectApiError(bad, 400, 'invalid_file', 'file')
    expect(bad.json.error.message).toContain('row 3, field golds')
    expect(bad.json.error.message).toContain('row 4, field line')
    expectApiError(await t.request('POST', '/v1/files', { key: tenantA, body: upload('garbage', 'x.parquet') }), 400, 'invalid_file')
    expectApiError(await t.request('POST', '/v1/files', { key: tenantA, body: upload(plainRows(1), 'data.csv') }), 400, 'unsupported_file_format', 'file')
    expectApiError(await t.request('POST', '/v1/files', { key: tenantA, body: upload('\n\n', 'empty.jsonl') }), 400, 'invalid_file')
    expectApiError(await t.request('POST', '/v1/files', { key: tenantA, body: upload(plainRows(1), 'a.jsonl', {}) }), 400, 'missing_required_parameter', 'purpose')
    expectApiError(await t.request('POST', '/v1/files', { key: tenantA, body: upload(plainRows(1), 'a.jsonl', { purpose: 'fine-tune', extra: '1' }) }), 400, 'unknown_parameter', 'extra')
    expectApiError(await t.request('POST', '/v1/files', { key: tenantA, json: { file: 'x' } }), 415, 'unsupported_media_type')
    expectApiError(await t.request('POST', '/v1/files', { key: tenantA, body: upload(plainRows(6000), 'big.jsonl') }), 413, 'request_too_large')
    expectApiError(await t.request('POST', '/v1/files', {
      key: tenantA, body: '--x\r\nbroken', headers: { 'content-type': 'multipart/form-data; boundary=x' },
    }), 400, 'invalid_multipart')
  })

  it('creates training jobs with the published defaults and validates them', async () => {
    const file = await t.request('POST', '/v1/files', { key: tenantA, body: upload(plainRows(2), 'train.jsonl') })
    const environment = { base_url: 'https://llm.example.com/v1', model: 'm' }
    const job = await t.request('POST', '/v1/training/jobs', { key: tenantA, json: { model: 'hf:Qwen/Qwen3-0.6B', training_file: file.json.id, seed: 7, environment } })
    expect(job.status).toBe(201)
    expect(job.json).toMatchObject({
      object: 'fine_tuning.job', kind: 'train', status: 'queued', model: 'hf:Qwen/Qwen3-0.6B', training_file: file.json.id, seed: 7,
      method: { type: 'grpo', grpo: { hyperparameters: { group_size: 5, prompts_per_step: 128, learning_rate: 1e-6, kl_coef: 0.001, clip_ratio: 0.2 } } },
    })
    const events = await t.request('GET', `/v1/training/jobs/${job.json.id}/events`, { key: tenantA })
    // (a worker may already have taken the job: only the first two events are the edge's)
    expect(events.json.data.slice(0, 2).map((e: any) => e.message)).toEqual(['Created train job', 'Files validated'])
    expectApiError(await t.request('POST', '/v1/training/jobs', { key: tenantA, json: { training_file: file.json.id } }), 400, 'missing_required_parameter', 'model')
    expectApiError(await t.request('POST', '/v1/training/jobs', { key: tenantA, json: { model: 'm', training_file: file.json.id, seed: 'x' } }), 400, 'invalid_parameter', 'seed')
    const grpo = (hyperparameters: object) => ({ model: 'm', training_file: file.json.id, method: { type: 'grpo', grpo: { hyperparameters } } })
    expectApiError(await t.request('POST', '/v1/training/jobs', { key: tenantA, json: grpo({ group_size: 0 }) }), 400, 'invalid_parameter', 'method.grpo.hyperparameters.group_size')
    // the rollout limits and the mini-batches are checked against each other
    expectApiError(await t.request('POST', '/v1/training/jobs', { key: tenantA, json: grpo({ group_size: 2, prompts_per_step: 2, updates_per_step: 5 }) }), 400, 'invalid_parameter', 'method.grpo.hyperparameters.updates_per_step')
    expectApiError(await t.request('POST', '/v1/training/jobs', { key: tenantA, json: grpo({ max_new_tokens_per_turn: 4096, max_context_tokens: 2048 }) }), 400, 'invalid_parameter', 'method.grpo.hyperparameters.max_new_tokens_per_turn')
    expectApiError(await t.request('POST', '/v1/training/jobs', { key: tenantA, json: grpo({ micro_batch_tokens: 10 }) }), 400, 'invalid_parameter', 'method.grpo.hyperparameters.micro_batch_tokens')
    expectApiError(await t.request('POST', '/v1/training/jobs', { key: tenantA, json: { model: 'm', training_file: file.json.id, method: { type: 'grpo', grpo: { hyperparameters: { lr: 1 } } } } }), 400, 'unknown_parameter', 'method.grpo.hyperparameters.lr')
    expectApiError(await t.request('POST', '/v1/training/jobs', { key: tenantA, json: { model: 'm', training_file: file.json.id, method: { type: 'dpo' } } }), 400, 'invalid_parameter', 'method.type')
    // every problem of the fields at once, each with its field, the fields GRPO needs among them
    const many = await t.request('POST', '/v1/training/jobs', { key: tenantA, json: { seed: 'x', suffix: 'a b', method: { type: 'grpo', grpo: { hyperparameters: { group_size: 0, lr: 1 } } } } })
    expectApiError(many, 400, 'invalid_parameter')
    expect(many.json.error.details.map((d: any) => [d.code, d.param]).sort()).toEqual([
      ['invalid_parameter', 'method.grpo.hyperparameters.group_size'], ['invalid_parameter', 'seed'], ['invalid_parameter', 'suffix'],
      ['missing_required_parameter', 'model'], ['missing_required_parameter', 'training_file'], ['unknown_parameter', 'method.grpo.hyperparameters.lr'],
    ])
    expect(many.json.error.message).toContain('and 5 more: see error.details')
    // then those known at submit time, all together
    const late = await t.request('POST', '/v1/training/jobs', { key: tenantA, json: { model: 'Qwen/Qwen3-0.6B', training_file: 'file-nope', validation_file: 'file-nope2' } })
    expect(late.json.error.details.map((d: any) => [d.code, d.param])).toEqual([
      ['not_found', 'training_file'], ['not_found', 'validation_file'], ['model_not_allowed', 'model'], ['missing_required_parameter', 'environment'],
    ])
    // what a job would cost, before it is launched: nothing is created
    const before = (await t.request('GET', '/v1/training/jobs?limit=100', { key: tenantA })).json.data.length
    const small = { model: 'hf:Qwen/Qwen3-0.6B', training_file: file.json.id, environment, method: { type: 'grpo', grpo: { hyperparameters: { steps: 4, prompts_per_step: 2, group_size: 3, max_turns: 5, max_new_tokens_per_turn: 1024, max_response_tokens: 4096, updates_per_step: 1 } } } }
    const estimate = await t.request('POST', '/v1/training/jobs/estimate', { key: tenantA, json: small })
    expect(estimate.json).toEqual({
      object: 'fine_tuning.job.estimate', episodes: 24, episodes_per_step: 6, epochs: 4, training_rows: 2, validation_episodes: 0,
      agent_turns_max: 120, environment_calls_max: 120, sampled_tokens_max: 24 * 4096,
      time: { seconds: null, basis: 'no succeeded training job of hf:Qwen/Qwen3-0.6B in this project to time from yet' },
    })
    // timed from the project's last job of the same model: 2 steps of 6 + 2 s for 3 x 2 episodes
    const earlier = await createJob(database.db, { projectId: 'tenant-a', kind: 'train', config: createTrainingJobBody.parse({ ...small, method: { type: 'grpo', grpo: { hyperparameters: { steps: 2, prompts_per_step: 3, group_size: 2, updates_per_step: 1 } } } }), maxAttempts: 1, status: 'succeeded' })
    for (const step of [1, 2]) await appendEvent(database.db, earlier.id, { level: 'info', type: 'metrics', message: `step ${step}/2`, data: { step, time_rollout_s: 6, time_update_s: 2 } })
    await database.db.execute(sql`update jobs set finished_at = now() where id = ${earlier.id}`)
    const timed = await t.request('POST', '/v1/training/jobs/estimate', { key: tenantA, json: small })
    expect(timed.json.time).toEqual({ seconds: Math.round((8 / 6) * 24), basis: expect.stringContaining(`job ${earlier.id} (same base model): 1.33 s per episode`) })
    // the checks of a launch, all of them
    expectApiError(await t.request('POST', '/v1/training/jobs/estimate', { key: tenantA, json: { ...small, training_file: 'file-nope', seed: 'x' } }), 400, 'invalid_parameter', 'seed')
    expect((await t.request('GET', '/v1/training/jobs?limit=100', { key: tenantA })).json.data.length).toBe(before + 1) // the one made above
    // another tenant's file is not there for tenant B
    expectApiError(await t.request('POST', '/v1/training/jobs', { key: tenantB, json: { model: 'm', training_file: file.json.id } }), 404, 'not_found', 'training_file')
    // a published set by name: any project may train on it, the worker reads it from its datasets folders
    const tenantC = await t.projectKey('tenant-published-sets')
    const published = await t.request('POST', '/v1/training/jobs', { key: tenantC, json: { model: 'hf:Qwen/Qwen3-0.6B', training_file: 'train', validation_file: 'validation', environment } })
    expect(published.status, published.text).toBe(201)
    expect(published.json).toMatchObject({ training_file: 'train', validation_file: 'validation' })
    expectApiError(await t.request('POST', '/v1/training/jobs', { key: tenantC, json: { model: 'm', training_file: 'trains' } }), 404, 'not_found', 'training_file')
  })

  it('lists, gets and pages jobs per tenant', async () => {
    const ids = []
    for (let i = 0; i < 3; i++) {
      ids.push((await t.request('POST', '/v1/training/jobs', { key: tenantB, json: { method: { type: 'noop', noop: { steps: 0 } } } })).json.id)
    }
    const first = await t.request('GET', '/v1/training/jobs?limit=2', { key: tenantB })
    expect(first.json.data.map((j: any) => j.id)).toEqual([ids[2], ids[1]])
    expect(first.json.has_more).toBe(true)
    const second = await t.request('GET', `/v1/training/jobs?limit=2&after=${ids[1]}`, { key: tenantB })
    expect(second.json.data.map((j: any) => j.id)).toEqual([ids[0]])
    expect(second.json.has_more).toBe(false)
    expect((await t.request('GET', `/v1/training/jobs/${ids[0]}`, { key: tenantB })).json.id).toBe(ids[0])
    expectApiError(await t.request('GET', `/v1/training/jobs/${ids[0]}`, { key: tenantA }), 404, 'not_found')
    expectApiError(await t.request('POST', `/v1/training/jobs/${ids[0]}/cancel`, { key: tenantA }), 404, 'not_found')
    expectApiError(await t.request('GET', `/v1/training/jobs/${ids[0]}/events`, { key: tenantA }), 404, 'not_found')
    expectApiError(await t.request('GET', `/v1/training/jobs?after=${ids[0]}`, { key: tenantA }), 400, 'invalid_cursor', 'after')
    expectApiError(await t.request('GET', '/v1/training/jobs?limit=0', { key: tenantB }), 400, 'invalid_parameter', 'limit')
    expectApiError(await t.request('GET', '/v1/training/jobs?limit=abc', { key: tenantB }), 400, 'invalid_parameter', 'limit')
    expectApiError(await t.request('GET', '/v1/training/jobs?order=asc', { key: tenantB }), 400, 'unknown_parameter', 'order')
    expectApiError(await t.request('GET', `/v1/training/jobs/${ids[0]}/events?after=xyz`, { key: tenantB }), 400, 'invalid_parameter', 'after')
  })

  it('runs a noop job through all its states with events, on the worker', async () => {
    const created = await t.request('POST', '/v1/training/jobs', { key: tenantA, json: { method: { type: 'noop', noop: { steps: 3, step_ms: 10 } } } })
    const done = await until(async () => {
      const job = await t.request('GET', `/v1/training/jobs/${created.json.id}`, { key: tenantA })
      return job.json.status === 'succeeded' ? job.json : undefined
    })
    expect(done).toMatchObject({ result: { steps_completed: 3 }, attempt: 1, error: null })
    expect(done.started_at).toEqual(expect.any(Number))
    expect(done.finished_at).toBeGreaterThanOrEqual(done.started_at)
    const events = (await t.request('GET', `/v1/training/jobs/${created.json.id}/events`, { key: tenantA })).json.data
    expect(events.map((e: any) => e.message)).toEqual([
      'Created noop job', expect.stringMatching(/^Worker worker-.* started attempt 1 of 3$/),
      'step 1/3', 'step 2/3', 'step 3/3', 'Job succeeded',
    ])
    expect(events.filter((e: any) => e.type === 'metrics').map((e: any) => e.data.progress)).toEqual([1 / 3, 2 / 3, 1])
    const after = await t.request('GET', `/v1/training/jobs/${created.json.id}/events?after=${events[2].id}&limit=2`, { key: tenantA })
    expect(after.json.data.map((e: any) => e.seq)).toEqual([4, 5])
    expect(after.json.has_more).toBe(true)
    expectApiError(await t.request('POST', `/v1/training/jobs/${created.json.id}/cancel`, { key: tenantA }), 409, 'job_not_cancellable')
  })

  it('records a runner failure as a failed job with its error', async () => {
    const created = await t.request('POST', '/v1/training/jobs', { key: tenantA, json: { method: { type: 'noop', noop: { steps: 3, step_ms: 1, fail_at_step: 1 } } } })
    const failed = await until(async () => {
      const job = await t.request('GET', `/v1/training/jobs/${created.json.id}`, { key: tenantA })
      return job.json.status === 'failed' ? job.json : undefined
    })
    expect(failed.error).toEqual({ code: 'job_failed', message: 'noop job told to fail at step 1', param: null })
  })

  it('cancels a running job at the worker\'s next heartbeat', async () => {
    const created = await t.request('POST', '/v1/training/jobs', { key: tenantA, json: { method: { type: 'noop', noop: { steps: 1000, step_ms: 20 } } } })
    // while it runs, the job says what it is doing: the worker's last report, at most a second old
    const running = await until(async () => {
      const job = await t.request('GET', `/v1/training/jobs/${created.json.id}`, { key: tenantA })
      return job.json.status === 'running' && job.json.progress?.done > 0 ? job.json : undefined
    })
    expect(running.progress).toMatchObject({ phase: 'steps', total: 1000, step: null, steps: null, phase_started_at: expect.any(Number) })
    const later = await until(async () => {
      const job = await t.request('GET', `/v1/training/jobs/${created.json.id}`, { key: tenantA })
      return job.json.progress?.done > running.progress.done ? job.json : undefined
    }, { timeoutMs: 5000, what: 'a newer progress report' })
    expect(later.progress.phase_started_at).toBe(running.progress.phase_started_at)
    const cancelling = await t.request('POST', `/v1/training/jobs/${created.json.id}/cancel`, { key: tenantA })
    expect(cancelling.json.status).toBe('cancelling')
    const cancelled = await until(async () => {
      const job = await t.request('GET', `/v1/training/jobs/${created.json.id}`, { key: tenantA })
      return job.json.status === 'cancelled' ? job.json : undefined
    })
    expect(cancelled.finished_at).toEqual(expect.any(Number))
    expect(cancelled.progress).toBeNull()
    const messages = (await t.request('GET', `/v1/training/jobs/${created.json.id}/events?limit=1000`, { key: tenantA })).json.data.map((e: any) => e.message)
    expect(messages).toContain('Cancellation requested; waiting for the worker')
    expect(messages.at(-1)).toBe('Job cancelled')
    expect(messages.filter((m: string) => m.startsWith('step ')).length).toBeLessThan(1000)
    // a queued job is cancelled at once
    await t.worker.stop()
    const queued = await t.request('POST', '/v1/training/jobs', { key: tenantA, json: { method: { type: 'noop' } } })
    expect((await t.request('POST', `/v1/training/jobs/${queued.json.id}/cancel`, { key: tenantA })).json.status).toBe('cancelled')
    await t.worker.start()
  })

  it('lists checkpoints and streams their files from the local store', async () => {
    const job = await createJob(database.db, { projectId: 'tenant-a', kind: 'train', config: { model: 'm' }, maxAttempts: 3 })
    const weights = new Uint8Array(Array.from({ length: 5000 }, (_, i) => i % 251))
    const blobKey = `projects/tenant-a/checkpoints/${job.id}/merged/model.safetensors`
    const stored = await blobs.put(blobKey, weights)
    const checkpoint = await insertCheckpoint(database.db, {
      projectId: 'tenant-a', jobId: job.id, step: 10, kind: 'merged', metrics: { reward: 0.5 },
      files: { merged: [{ path: 'model.safetensors', blobKey, ...stored }] },
    })
    const listed = await t.request('GET', `/v1/training/jobs/${job.id}/checkpoints`, { key: tenantA })
    expect(listed.json.data).toEqual([expect.objectContaining({
      id: checkpoint.id, object: 'fine_tuning.job.checkpoint', step_number: 10, kind: 'merged', formats: ['merged'], metrics: { reward: 0.5 },
    })])
    const download = await t.request('GET', `/v1/checkpoints/${checkpoint.id}/download?format=merged`, { key: tenantA })
    expect(download.status).toBe(200)
    expect(download.json).toMatchObject({ object: 'checkpoint.download', format: 'merged', expires_at: null })
    const [file] = download.json.files
    expect(file).toMatchObject({ path: 'model.safetensors', bytes: 5000, sha256: stored.sha256 })
    // relative without PROMPT_R1_PUBLIC_URL: never built on the request's Host header
    const path = file.url
    expect(path).toBe(`/v1/checkpoints/${checkpoint.id}/files/merged/model.safetensors`)
    const streamed = await t.app.request(path, { headers: { authorization: `Bearer ${tenantA}` } })
    expect(streamed.status).toBe(200)
    expect(new Uint8Array(await streamed.arrayBuffer())).toEqual(weights)
    // the stream needs the key too, and the right tenant
    expectApiError(await t.request('GET', path, { key: null }), 401, 'missing_api_key')
    expectApiError(await t.request('GET', path, { key: tenantB }), 404, 'not_found')
    expectApiError(await t.request('GET', `/v1/checkpoints/${checkpoint.id}/download`, { key: tenantB }), 404, 'not_found')
    expectApiError(await t.request('GET', `/v1/checkpoints/${checkpoint.id}/download?format=adapter`, { key: tenantA }), 404, 'format_unavailable', 'format')
    expectApiError(await t.request('GET', `/v1/checkpoints/${checkpoint.id}/download?format=onnx2`, { key: tenantA }), 400, 'invalid_parameter', 'format')
    expectApiError(await t.request('GET', `/v1/checkpoints/${checkpoint.id}/files/merged/..%2F..%2Fapi-keys`, { key: tenantA }), 400, 'invalid_blob_key', 'path')
    expectApiError(await t.request('GET', `/v1/checkpoints/${checkpoint.id}/files/merged/other.bin`, { key: tenantA }), 404, 'not_found', 'path')
    expectApiError(await t.request('GET', `/v1/training/jobs/${job.id}/checkpoints?after=ckpt-nope`, { key: tenantA }), 400, 'invalid_cursor', 'after')
  })

  it('never answers garbage with a 5xx', async () => {
    const bodies = ['', 'null', '"text"', '[]', '{"model": null}', '{"method": {"type": null}}', '{"metadata": {"k": 5}}',
      '{"method": {"type": "noop", "noop": {"steps": -1}}}', '{"method": {"type": "noop", "noop": {"steps": 1e309}}}', '\u0000\u0001', '{"a": "\ud800"}']
    const routes = ['/v1/training/jobs', '/v1/api_keys', '/v1/files', '/v1/training/jobs/ftjob-x/cancel']
    for (const route of routes) {
      for (const body of bodies) {
        const response = await t.request('POST', route, { body, headers: { 'content-type': 'application/json' } })
        expect(response.status, `${route} ${body}`).toBeGreaterThanOrEqual(400)
        expect(response.status, `${route} ${body}`).toBeLessThan(500)
        expect(response.json.error.code, `${route} ${body}`).toEqual(expect.any(String))
      }
    }
    for (const path of ['/v1/training/jobs/%00', '/v1/files/..%2F..', '/v1/checkpoints/x/download?format=', '/v1/training/jobs?limit=1e3&after=']) {
      const response = await t.request('GET', path)
      expect(response.status, path).toBeGreaterThanOrEqual(400)
      expect(response.status, path).toBeLessThan(500)
    }
  })
})

describePostgres('checkpoint downloads from S3', () => {
  it('hands out presigned URLs that work without an API key', async () => {
    const database = await freshPostgres()
    const store = await testS3Store()
    const t = await testApp(database, store)
    const job = await createJob(database.db, { projectId: 'default', kind: 'train', config: {}, maxAttempts: 3 })
    const adapter = new TextEncoder().encode('adapter weights')
    const blobKey = `projects/default/checkpoints/${job.id}/adapter/adapter_model.safetensors`
    const stored = await store.put(blobKey, adapter)
    const checkpoint = await insertCheckpoint(database.db, {
      projectId: 'default', jobId: job.id, step: 20, kind: 'adapter',
      files: { adapter: [{ path: 'adapter_model.safetensors', blobKey, ...stored }] },
    })
    const download = await t.request('GET', `/v1/checkpoints/${checkpoint.id}/download?format=adapter`)
    expect(download.json.expires_at).toBeGreaterThan(Date.now() / 1000 + 3000)
    const response = await fetch(download.json.files[0].url)
    expect(response.status).toBe(200)
    expect(new TextDecoder().decode(await response.arrayBuffer())).toBe('adapter weights')
    expect((await t.request('GET', '/health')).json.blob_store).toBe('s3')
    // an upload streams into the bucket as it arrives
    const uploaded = await t.request('POST', '/v1/files', { body: upload(plainRows(2000), 'plain.jsonl') })
    expect(uploaded.json).toMatchObject({ row_count: 2000, bytes: plainRows(2000).length })
    expect(await store.size(`projects/default/files/${uploaded.json.id}.jsonl`)).toBe(plainRows(2000).length)
    await database.close()
  })
})
