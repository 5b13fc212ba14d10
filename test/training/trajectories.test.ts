// A training step's trajectories and a training job's own environment, through the API on a
// Postgres server: a real worker trains the tiny arithmetic agent for two GRPO steps against the
// deterministic arithmetic environment named in the job; each step's episodes are stored and
// served; bad inputs, other tenants and the environment's host policy get the API's errors.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { TEST_ENGINE, TEST_MODEL_FOLDERS } from '../helpers/engine.ts'
import { trainRunner } from '../../gpu-worker/runners/train.ts'
import { makeArithmeticAgent } from '../../gpu-worker/training/arithmetic-task.ts'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import type { OpenDatabase } from '../../shared/db/database.ts'
import { createJob, getJob } from '../../shared/db/jobs.ts'
import { trajectoryKey } from '../../shared/job-config.ts'
import { describePostgres, freshPostgres } from '../helpers/databases.ts'
import { expectApiError, testApp } from '../helpers/app.ts'
import { until } from '../helpers/wait.ts'
import { type DeterministicArithmeticEnv, startDeterministicArithmeticEnv } from '../protocol/deterministic-arithmetic-env.ts'
import { removeTempDirs, tempDir } from './helpers.ts'

afterAll(removeTempDirs)

const SUMS: Record<string, string> = { '3 + 4': '7', '9 - 2': '7', '5 + 1': '6' }

describePostgres('training trajectories and environment', () => {
  let database: OpenDatabase
  let blobs: LocalBlobStore
  let env: DeterministicArithmeticEnv
  let t: Awaited<ReturnType<typeof testApp>>
  let tenantA: string
  let tenantB: string
  let model: string
  let fileId: string
  let jobId: string

  const grpo = (hyperparameters: Record<string, unknown> = {}) => ({
    type: 'grpo', grpo: { hyperparameters: { steps: 2, group_size: 2, prompts_per_step: 2, updates_per_step: 1, max_turns: 2, learning_rate: 1e-3, ...hyperparameters } },
  })

  beforeAll(async () => {
    process.env.PROMPT_R1_CACHE = tempDir()
    database = await freshPostgres()
    blobs = new LocalBlobStore(tempDir())
    env = await startDeterministicArithmeticEnv()
    t = await testApp(database, blobs, { PROMPT_R1_ALLOW_LOOPBACK_ENVIRONMENT: 'true' })
    await t.worker.start()
    tenantA = await t.projectKey('tenant-a')
    tenantB = await t.projectKey('tenant-b')
    model = tempDir()
    makeArithmeticAgent(model)
    const form = new FormData()
    const rows = Object.entries(SUMS).map(([question, gold]) => JSON.stringify({ question, golds: [gold] })).join('\n')
    form.set('file', new File([rows], 'arithmetic.jsonl'))
    form.set('purpose', 'fine-tune')
    fileId = (await t.request('POST', '/v1/files', { key: tenantA, body: form })).json.id
  })
  afterAll(async () => {
    await t?.worker.stop()
    await env?.close()
    await database?.close()
  })

  it('checks the environment as evaluations do, stores its key and never shows it', async () => {
    const body = (environment: unknown) => ({ model, training_file: fileId, method: grpo(), environment })
    const post = (json: unknown, key = tenantA) => t.request('POST', '/v1/training/jobs', { key, json })
    expectApiError(await post(body({ base_url: env.baseURL })), 400, 'missing_required_parameter', 'environment.model')
    expectApiError(await post(body({ base_url: 'ftp://example.com', model: 'arith' })), 400, 'invalid_parameter', 'environment.base_url')
    expectApiError(await post(body({ base_url: 'http://169.254.169.254/v1', model: 'arith' })), 400, 'environment_not_allowed', 'environment.base_url')
    expectApiError(await post(body({ base_url: env.baseURL, model: 'arith', colour: 'red' })), 400, 'unknown_parameter', 'environment.colour')
    expectApiError(await post(body({ base_url: env.baseURL, model: 'arith', concurrency: 0 })), 400, 'invalid_parameter', 'environment.concurrency')
    const strict = await testApp(database, blobs, { PROMPT_R1_ALLOW_LOOPBACK_ENVIRONMENT: 'false' })
    expectApiError(await strict.request('POST', '/v1/training/jobs', { json: body({ base_url: env.baseURL, model: 'arith' }) }), 400, 'environment_not_allowed', 'environment.base_url')

    const created = await post(body({ base_url: env.baseURL, model: 'arith', api_key: 'sk-secret-of-the-environment' }))
    expect(created.status).toBe(201)
    jobId = created.json.id
    expect(created.json.environment).toMatchObject({ base_url: env.baseURL, model: 'arith', api_key_set: true })
    for (const response of [created, await t.request('GET', `/v1/training/jobs/${jobId}`, { key: tenantA }), await t.request('GET', '/v1/training/jobs', { key: tenantA })]) {
      expect(response.text).not.toContain('sk-secret-of-the-environment')
    }
    // stored for the worker
    expect(((await getJob(database.db, 'tenant-a', jobId))!.config as any).environment.api_key).toBe('sk-secret-of-the-environment')
    // a job without one shows none
    const noop = await post({ method: { type: 'noop', noop: { steps: 0 } } })
    expect(noop.json.environment).toBeNull()
  })

  it('stores every episode of every step and serves them by step', { timeout: 120_000 }, async () => {
    const job = await until(async () => {
      const got = (await t.request('GET', `/v1/training/jobs/${jobId}`, { key: tenantA })).json
      return ['succeeded', 'failed'].includes(got.status) ? got : undefined
    }, { timeoutMs: 110_000, what: 'the training job to finish' })
    expect(job.error).toBeNull()
    expect(job.status).toBe('succeeded')

    const steps = await t.request('GET', `/v1/training/jobs/${jobId}/trajectories/steps`, { key: tenantA })
    expect(steps.json).toEqual({ object: 'list', has_more: false, data: [1, 2].map((step) => ({ object: 'fine_tuning.job.trajectory_step', step })) })
    const events = (await t.request('GET', `/v1/training/jobs/${jobId}/events?limit=100`, { key: tenantA })).json.data
    const metrics = events.filter((e: any) => e.type === 'metrics').map((e: any) => e.data)
    for (const step of [1, 2]) {
      const page = await t.request('GET', `/v1/training/jobs/${jobId}/trajectories?step=${step}`, { key: tenantA })
      expect(page.status).toBe(200)
      expect(page.json.object).toBe('list')
      const episodes = page.json.data
      // 2 prompts x 2 episodes, in groups
      expect(episodes.map((e: any) => [e.object, e.step, e.index, e.group])).toEqual([0, 1, 2, 3].map((i) => ['fine_tuning.job.trajectory', step, i, Math.floor(i / 2)]))
      const m = metrics.find((d: any) => d.step === step)
      // the stored rewards and parts are the ones the step's metrics averaged
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
      expect(mean(episodes.map((e: any) => e.reward))).toBeCloseTo(m.reward_mean, 12)
      expect(mean(episodes.map((e: any) => e.format_score))).toBeCloseTo(m.format_mean, 12)
      expect(mean(episodes.map((e: any) => e.answer_f1))).toBeCloseTo(m.answer_f1_mean, 12)
      expect(mean(episodes.map((e: any) => e.turns.length))).toBeCloseTo(m.turns_mean, 12)
      for (const e of episodes) {
        expect(e.question).toMatch(/^\d [-+] \d$/)
        expect(e.golds).toEqual([SUMS[e.question]])
        expect(e.turns.length).toBeGreaterThan(0)
        expect(Object.keys(e.turns[0]).sort()).toEqual(['answer', 'environment_answer', 'environment_latency_ms', 'environment_usage', 'error', 'kind', 'prompt', 'sampled_tokens', 'text', 'think', 'tool_content'])
        expect(typeof e.advantage).toBe('number')
        expect(typeof e.end_reason).toBe('string')
      }
      // advantages are group-relative: each group's sum is zero
      for (const g of [0, 1]) expect(Math.abs(episodes.filter((e: any) => e.group === g).reduce((s: number, e: any) => s + e.advantage, 0))).toBeLessThan(1e-6)
    }
  })

  it('refuses bad steps and other tenants', async () => {
    const path = `/v1/training/jobs/${jobId}/trajectories`
    expectApiError(await t.request('GET', path, { key: tenantA }), 400, 'missing_required_parameter', 'step')
    expectApiError(await t.request('GET', `${path}?step=abc`, { key: tenantA }), 400, 'invalid_parameter', 'step')
    expectApiError(await t.request('GET', `${path}?step=0`, { key: tenantA }), 400, 'invalid_parameter', 'step')
    expectApiError(await t.request('GET', `${path}?step=1.5`, { key: tenantA }), 400, 'invalid_parameter', 'step')
    expectApiError(await t.request('GET', `${path}?step=1&limit=3`, { key: tenantA }), 400, 'unknown_parameter', 'limit')
    expectApiError(await t.request('GET', `${path}?step=3`, { key: tenantA }), 404, 'not_found', 'step')
    expectApiError(await t.request('GET', `${path}?step=1`, { key: tenantB }), 404, 'not_found')
    expectApiError(await t.request('GET', `${path}/steps`, { key: tenantB }), 404, 'not_found')
    expectApiError(await t.request('GET', '/v1/training/jobs/ftjob-nope/trajectories/steps', { key: tenantA }), 404, 'not_found')
    expectApiError(await t.request('GET', `${path}?step=1`, { key: null }), 401, 'missing_api_key')
    // a job that stored none lists no steps
    const noop = (await t.request('GET', '/v1/training/jobs', { key: tenantA })).json.data.find((j: any) => j.kind === 'noop')
    expect((await t.request('GET', `/v1/training/jobs/${noop.id}/trajectories/steps`, { key: tenantA })).json.data).toEqual([])
  })

  it('the worker uses the job\'s environment, not its own, and checks where its host resolves', async () => {
    const job = await createJob(database.db, {
      projectId: 'tenant-a', kind: 'train', maxAttempts: 1,
      config: { model, training_file: fileId, method: grpo({ steps: 1 }), environment: { base_url: 'http://localhost:9/v1', model: 'arith' } },
    })
    const unused = { complete: async () => { throw new Error('the worker\'s own environment was used') } }
    const runner = trainRunner({ environment: unused, allowLoopbackEnvironment: false, modelFolders: TEST_MODEL_FOLDERS, engine: TEST_ENGINE, workDir: tempDir() })
    await expect(runner({ job, db: database.db, blobs, signal: new AbortController().signal, event: async () => {}, progress: () => {} })).rejects.toThrow(/loopback/)
    expect(await blobs.size(trajectoryKey(job.id, 1))).toBeNull()
  })
})
