// The OpenAPI description against the API itself: every route is described and every described
// operation is a route; then one pass over every operation with real answers (noop jobs through a
// real worker, an upload, an evaluation against the deterministic environment, a chat whose agent
// plays scripted turns through the real episode runner, trajectories written by the trainer's own
// record function), each checked against the description by test/helpers/app.ts, and none left out.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../../edge/app.ts'
import { episodeRecords } from '../../gpu-worker/training/trajectories.ts'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import { loadConfig } from '../../shared/config.ts'
import { insertCheckpoint } from '../../shared/db/checkpoints.ts'
import type { OpenDatabase } from '../../shared/db/database.ts'
import { trajectoryKey } from '../../shared/job-config.ts'
import { OpenAIEnvironment } from '../../shared/protocol/environment.ts'
import { runEpisodes } from '../../shared/protocol/episode.ts'
import { TRAINING_OPTIONS } from '../../shared/protocol/options.ts'
import { dualConstrainedReward } from '../../shared/protocol/reward.ts'
import { userContentForQuestion } from '../../shared/protocol/template.ts'
import type { ChatTokenizer } from '../../shared/protocol/tokenizer.ts'
import { testApp } from '../helpers/app.ts'
import { SCRIPT, SCRIPTED_QUESTION, scriptedAgents } from '../helpers/scripted-agent.ts'
import { describePostgres, freshPostgres } from '../helpers/databases.ts'
import { DOCUMENT, checkAgainstDescription, exercised } from '../helpers/openapi.ts'
import { until } from '../helpers/wait.ts'
import { type DeterministicArithmeticEnv, startDeterministicArithmeticEnv } from '../protocol/deterministic-arithmetic-env.ts'
import { qwen3Tokenizer } from '../protocol/qwen3-tokenizer.ts'
import { ScriptedPolicy } from '../protocol/scripted-policy.ts'

const QUESTION = SCRIPTED_QUESTION

describe('the OpenAPI description', () => {
  it('describes every route of the API, and only those', () => {
    const app = createApp({ db: {} as never, databaseDriver: 'postgres', blobs: {} as never, dispatcher: { jobQueued() {} }, config: loadConfig({}) })
    const pages = /^\/(dashboard(\/.*)?|favicon\.ico|docs)?$/
    const routes = new Set(app.routes.filter((r) => r.method !== 'ALL' && !pages.test(r.path))
      .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)(\{[^}]*\})?/g, '{$1}')}`))
    const described = new Set(Object.entries(DOCUMENT.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method} ${path}`)))
    expect([...routes].sort()).toEqual([...described].sort())
    expect(DOCUMENT).toMatchObject({ openapi: '3.1.0', info: { title: expect.any(String) } })
  })

  it('is served as JSON and as a page that lists every operation', async () => {
    const app = createApp({ db: {} as never, databaseDriver: 'postgres', blobs: {} as never, dispatcher: { jobQueued() {} }, config: loadConfig({}) })
    const served = await (await app.request('/openapi.json')).json() as typeof DOCUMENT
    expect({ ...served, info: { ...served.info, version: 'test' } }).toEqual(JSON.parse(JSON.stringify(DOCUMENT)))
    const page = await app.request('/docs')
    expect(page.headers.get('content-type')).toContain('text/html')
    const html = await page.text()
    for (const [path, methods] of Object.entries(DOCUMENT.paths)) {
      for (const method of Object.keys(methods)) expect(html, `${method} ${path}`).toContain(`<span class="method">${method.toUpperCase()}</span> <code>${path}</code>`)
    }
    expect(html).not.toMatch(/<script|https?:\/\/(?!json-schema)/)
  })

  it('is told apart from an answer that breaks it', () => {
    // an answer the description does not allow fails the check, naming what differs
    expect(() => checkAgainstDescription('GET', '/v1/files/file-x', 200, 'application/json', JSON.stringify({ id: 'file-x', object: 'file' })))
      .toThrow(/does not match #\/components\/schemas\/File: .*required property 'filename'/)
    expect(() => checkAgainstDescription('GET', '/v1/nothing-here', 200, 'application/json', '{}')).toThrow('not in the OpenAPI description')
    expect(() => checkAgainstDescription('GET', '/v1/files', 418, 'application/json', '{}')).toThrow('status 418 is not described')
    expect(() => checkAgainstDescription('GET', '/v1/checkpoints/ckpt-x/archive', 200, 'application/zip', '')).toThrow("content type 'application/zip' is not described")
  })
})

describePostgres('every operation of the description, answered for real', () => {
  let database: OpenDatabase
  let blobs: LocalBlobStore
  let env: DeterministicArithmeticEnv
  let tokenizer: ChatTokenizer
  let t: Awaited<ReturnType<typeof testApp>>

  beforeAll(async () => {
    database = await freshPostgres()
    blobs = new LocalBlobStore(mkdtempSync(join(tmpdir(), 'openapi-blobs-')))
    ;[env, tokenizer] = await Promise.all([startDeterministicArithmeticEnv(), qwen3Tokenizer()])
    t = await testApp(database, blobs, { PROMPT_R1_ALLOW_LOOPBACK_ENVIRONMENT: 'true' }, scriptedAgents(tokenizer, env.baseURL))
    await t.worker.start()
  })
  afterAll(async () => {
    await t?.worker.stop()
    await env?.close()
    await database?.close()
  })

  it('answers each as described', async () => {
    const ok = async (method: string, path: string, options: Parameters<typeof t.request>[2] = {}) => {
      const response = await t.request(method, path, options)
      expect(response.status, `${method} ${path}: ${response.text.slice(0, 300)}`).toBeLessThan(300)
      return response
    }
    await ok('GET', '/health')
    await ok('GET', '/openapi.json', { key: null })

    const key = await ok('POST', '/v1/api_keys', { json: { name: 'spare' } })
    await ok('GET', '/v1/api_keys')
    await ok('DELETE', `/v1/api_keys/${key.json.id}`)

    const form = new FormData()
    form.set('file', new File([`${JSON.stringify({ question: QUESTION, golds: ['391'] })}\n`], 'sums.jsonl'))
    form.set('purpose', 'evals')
    const file = await ok('POST', '/v1/files', { body: form })
    await ok('GET', '/v1/files')
    await ok('GET', `/v1/files/${file.json.id}`)

    await ok('POST', '/v1/training/jobs/estimate', { json: { method: { type: 'noop', noop: { steps: 2, step_ms: 1 } } } })
    const job = await ok('POST', '/v1/training/jobs', { json: { method: { type: 'noop', noop: { steps: 2, step_ms: 1 } } } })
    await until(async () => (await t.request('GET', `/v1/training/jobs/${job.json.id}`)).json.status === 'succeeded', { what: 'the noop job' })
    await ok('GET', '/v1/training/jobs')
    await ok('GET', `/v1/training/jobs/${job.json.id}/events`)
    const long = await ok('POST', '/v1/training/jobs', { json: { method: { type: 'noop', noop: { steps: 1000, step_ms: 20 } } } })
    await ok('POST', `/v1/training/jobs/${long.json.id}/cancel`)

    // the trainer's own records of episodes played by the real runner, stored where it stores them
    const { trajectories } = await runEpisodes({
      policy: new ScriptedPolicy(tokenizer, SCRIPT), tokenizer, userContents: [userContentForQuestion(QUESTION)], options: TRAINING_OPTIONS,
      environment: new OpenAIEnvironment({ baseURL: env.baseURL, apiKey: 'k', model: 'arithmetic', policy: { allowLoopback: true } }),
    })
    const records = episodeRecords(1, 1, trajectories.map((trajectory) => {
      const parts = dualConstrainedReward(trajectory.text, ['391'])
      return { row: { index: 0, dataSource: 'sums', question: QUESTION, content: userContentForQuestion(QUESTION), golds: ['391'] }, trajectory, reward: parts.reward, parts, advantage: 0 }
    }))
    await blobs.put(trajectoryKey(job.json.id, 1), new TextEncoder().encode(`${records.map((r) => JSON.stringify(r)).join('\n')}\n`))
    await ok('GET', `/v1/training/jobs/${job.json.id}/trajectories/steps`)
    const played = await ok('GET', `/v1/training/jobs/${job.json.id}/trajectories?step=1`)
    expect(played.json.data[0].turns.length).toBe(2)

    const blobKey = `jobs/${job.json.id}/checkpoints/step-2/merged/config.json`
    const checkpoint = await insertCheckpoint(database.db, {
      projectId: 'default', jobId: job.json.id, step: 2, kind: 'merged', files: { merged: [{ path: 'config.json', blobKey, ...await blobs.put(blobKey, new TextEncoder().encode('{}')) }] },
    }, { base: 'hf:Qwen/Qwen3-0.6B' })
    await ok('GET', `/v1/training/jobs/${job.json.id}/checkpoints`)
    await ok('GET', '/v1/checkpoints')
    await ok('GET', `/v1/checkpoints/${checkpoint.id}`)
    const download = await ok('GET', `/v1/checkpoints/${checkpoint.id}/download`)
    await ok('GET', download.json.archive.url, { key: null })
    await ok('GET', download.json.files[0].url)

    const evaluation = await ok('POST', '/v1/evaluations', {
      json: { datasets: [{ file_id: file.json.id }], modes: ['direct'], environment: { base_url: env.baseURL, model: 'arithmetic' } },
    })
    await until(async () => (await t.request('GET', `/v1/evaluations/${evaluation.json.id}`)).json.status === 'succeeded', { what: 'the evaluation' })
    await ok('GET', '/v1/evaluations')
    await ok('GET', `/v1/evaluations/${evaluation.json.id}/events`)
    for (const format of ['json', 'jsonl', 'csv', 'markdown']) await ok('GET', `/v1/evaluations/${evaluation.json.id}/results?format=${format}`)

    await ok('GET', '/v1/models')
    const chat = await ok('POST', '/v1/chat/completions', { json: { model: 'scripted-agent', messages: [{ role: 'user', content: QUESTION }], environment: { base_url: env.baseURL, model: 'arithmetic' } } })
    expect(chat.json.choices[0].message.content).toBe('391')
    const streamed = await ok('POST', '/v1/chat/completions', { json: { model: 'scripted-agent', stream: true, messages: [{ role: 'user', content: QUESTION }], environment: { base_url: env.baseURL, model: 'arithmetic' } } })
    expect(streamed.text.trim().endsWith('data: [DONE]')).toBe(true)

    // with no worker taking it, an evaluation stays queued until it is cancelled
    await t.worker.stop()
    const queued = await ok('POST', '/v1/evaluations', { json: { datasets: [{ file_id: file.json.id }], modes: ['direct'], environment: { base_url: env.baseURL, model: 'arithmetic' } } })
    expect((await ok('POST', `/v1/evaluations/${queued.json.id}/cancel`)).json.status).toBe('cancelled')

    const everyOperation = Object.entries(DOCUMENT.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method} ${path}`))
    expect(everyOperation.filter((op) => !exercised.has(op))).toEqual([])
  })
})
