// A generated bad-input corpus over every route of the API: malformed bodies, every field of a
// valid body replaced by values of the wrong kind, unknown fields, NUL and surrogates in keys and
// values, huge numbers, path tricks, other tenants' ids and bad credentials. Whatever comes in, the
// answer is the error envelope with a 4xx (or a success), never a 5xx. Seeded: the same corpus
// every run, so a failure names a request that can be replayed.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createApp } from '../../edge/app.ts'
import type { AgentService } from '../../shared/agents.ts'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import { insertCheckpoint } from '../../shared/db/checkpoints.ts'
import type { OpenDatabase } from '../../shared/db/database.ts'
import { createJob } from '../../shared/db/jobs.ts'
import { createEvaluationBody } from '../../shared/job-config.ts'
import { describePostgres, freshPostgres } from '../helpers/databases.ts'
import { testApp } from '../helpers/app.ts'
import { tempDir } from '../helpers/temp.ts'

function seeded(seed: number) {
  return () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
}

const WRONG_VALUES: unknown[] = [
  null, true, 0, -1, 1e308, -1e308, 2 ** 63, 0.5, '', 'x'.repeat(5000), '\u0000', '\ud800', 'a\udc00b', '../../etc/passwd',
  '__proto__', [], [null], {}, { __proto__: { admin: true } }, [[[[[[[[[[[]]]]]]]]]]],
]

// every variant of `body` with one field (at any depth) replaced by each wrong value, removed, or
// joined by an unknown sibling
function mutations(body: unknown, pick: () => number, path: string[] = []): { path: string; body: unknown }[] {
  if (typeof body !== 'object' || body === null) return []
  const out: { path: string; body: unknown }[] = []
  const set = (target: unknown, keys: string[], value: unknown): unknown => {
    if (keys.length === 0) return value
    const copy: any = Array.isArray(target) ? [...target] : { ...(target as object) }
    if (value === undefined && keys.length === 1) delete copy[keys[0]]
    else copy[keys[0]] = set(copy[keys[0]], keys.slice(1), value)
    return copy
  }
  for (const [key, value] of Object.entries(body)) {
    const at = [...path, key]
    // a few wrong values per field, chosen by the seed, and always null and a wrong kind
    const chosen = [null, typeof value === 'string' ? 5 : 'five', ...Array.from({ length: 4 }, () => WRONG_VALUES[Math.floor(pick() * WRONG_VALUES.length)])]
    for (const wrong of chosen) out.push({ path: at.join('.'), body: set(body, at, wrong) })
    out.push({ path: `${at.join('.')} removed`, body: set(body, at, undefined) })
    out.push({ path: `${at.join('.')} + unknown`, body: set(body, [...path, `${key}_unknown`], 1) })
    out.push({ path: `${at.join('.')} + NUL key`, body: set(body, [...path, `k\u0000${key}`], 1) })
    for (const inner of mutations(value, pick, at)) out.push(inner)
  }
  return out
}

describePostgres('the bad-input corpus over every route', () => {
  let database: OpenDatabase
  let t: Awaited<ReturnType<typeof testApp>>
  let app: ReturnType<typeof createApp>
  let tenantA: string
  let tenantB: string
  const ids: Record<string, string> = {}
  const own: Record<string, string> = {}

  beforeAll(async () => {
    database = await freshPostgres()
    const blobs = new LocalBlobStore(tempDir())
    t = await testApp(database, blobs)
    // chat needs something behind it; it never serves a model here, so every chat is refused before one runs
    const agents: AgentService = { models: async () => [], hasModel: async () => false, run: async () => { throw new Error('not reached') } }
    app = createApp({ db: database.db, databaseDriver: 'postgres', blobs, config: t.config, agents, dispatcher: { jobQueued: () => {} } })
    tenantA = await t.projectKey('tenant-a')
    tenantB = await t.projectKey('tenant-b')
    const form = new FormData()
    form.set('file', new File(['{"question":"q","golds":["a"]}\n'], 'rows.jsonl'))
    form.set('purpose', 'fine-tune')
    ids.fileOfB = (await t.request('POST', '/v1/files', { key: tenantB, body: form })).json.id
    const evaluation = createEvaluationBody.parse({ datasets: ['gsm8k'], modes: ['direct'], environment: { base_url: 'http://e.example/v1', model: 'm' } })
    const jobOfB = await createJob(database.db, { projectId: 'tenant-b', kind: 'train', config: { model: 'hf:a/b' }, maxAttempts: 1 })
    ids.jobOfB = jobOfB.id
    ids.evalOfB = (await createJob(database.db, { projectId: 'tenant-b', kind: 'eval', config: evaluation, maxAttempts: 1 })).id
    const stored = await blobs.put('b/m.bin', new TextEncoder().encode('m'))
    ids.checkpointOfB = (await insertCheckpoint(database.db, {
      projectId: 'tenant-b', jobId: jobOfB.id, step: 1, kind: 'merged', files: { merged: [{ path: 'm.bin', blobKey: 'b/m.bin', ...stored }] },
    })).id
    // tenant-a's own objects, so that the routes get past the lookup to their parameters
    const ownJob = await createJob(database.db, { projectId: 'tenant-a', kind: 'train', config: { model: 'hf:a/b' }, maxAttempts: 1 })
    own.job = ownJob.id
    own.eval = (await createJob(database.db, { projectId: 'tenant-a', kind: 'eval', config: evaluation, maxAttempts: 1 })).id
    own.checkpoint = (await insertCheckpoint(database.db, {
      projectId: 'tenant-a', jobId: ownJob.id, step: 1, kind: 'merged', files: { merged: [{ path: 'm.bin', blobKey: 'b/m.bin', ...stored }] },
    })).id
    ids.keyOfB = (await t.request('GET', '/v1/api_keys')).json.data.find((k: { project_id: string }) => k.project_id === 'tenant-b').id
  })
  afterAll(async () => { await database?.close() })

  async function send(method: string, path: string, init: { key?: string | null; body?: string; contentType?: string; authorization?: string } = {}) {
    const headers: Record<string, string> = {}
    const key = init.key === undefined ? tenantA : init.key
    if (init.authorization !== undefined) headers.authorization = init.authorization
    else if (key !== null) headers.authorization = `Bearer ${key}`
    if (init.body !== undefined) headers['content-type'] = init.contentType ?? 'application/json'
    const response = await app.request(path, { method, headers, body: init.body })
    const text = await response.text()
    return { status: response.status, text }
  }

  function expectClean(what: string, response: { status: number; text: string }) {
    expect(response.status, `${what} -> ${response.status} ${response.text.slice(0, 300)}`).toBeLessThan(500)
    if (response.status >= 400) {
      let json: any
      try { json = JSON.parse(response.text) } catch { /* checked below */ }
      expect(typeof json?.error?.code, `${what}: no error envelope in ${response.text.slice(0, 200)}`).toBe('string')
      expect(typeof json.error.message, what).toBe('string')
      expect('param' in json.error, what).toBe(true)
    }
  }

  const environment = { base_url: 'http://environment.example/v1', model: 'm', api_key: 'k' }
  const validBodies: [string, unknown][] = [
    ['/v1/training/jobs', {
      model: 'hf:Qwen/Qwen3-0.6B', training_file: 'file-nope', seed: 1, suffix: 's', metadata: { a: 'b' }, environment,
      method: { type: 'grpo', grpo: { hyperparameters: { n_epochs: 1, batch_size: 2, learning_rate: 1e-6, lora_rank: 8 } } },
    }],
    ['/v1/evaluations', { datasets: ['gsm8k', { file_id: 'file-nope' }], modes: ['direct', 'agent'], max_rows: 2, environment, agent: { model: 'hf:a/b', temperature: 0 } }],
    ['/v1/api_keys', { name: 'k', project_id: 'tenant-a', admin: false }],
    ['/v1/chat/completions', { model: 'agent', messages: [{ role: 'user', content: 'q' }], stream: false, temperature: 0, max_tokens: 8, environment }],
  ]

  it('answers every mutated body of every POST route without a 5xx', async () => {
    const pick = seeded(11)
    let sent = 0
    for (const [route, body] of validBodies) {
      for (const { path, body: mutated } of mutations(body, pick)) {
        // key routes need an admin key to get past the permission check to the body
        const key = route === '/v1/api_keys' ? t.admin : tenantA
        expectClean(`POST ${route} with ${path}`, await send('POST', route, { key, body: JSON.stringify(mutated) }))
        sent++
      }
      for (const raw of ['', '{', 'null', '[]', '"s"', '1e999', '{"a":1,"a":2}', '{"\\u0000":1}', '{"\\ud800":"x"}', '\u0000', '\ufeff{}', '{'.repeat(10000)]) {
        const key = route === '/v1/api_keys' ? t.admin : tenantA
        expectClean(`POST ${route} with ${JSON.stringify(raw.slice(0, 20))}`, await send('POST', route, { key, body: raw }))
        expectClean(`POST ${route} as text/plain`, await send('POST', route, { key, body: raw, contentType: 'text/plain' }))
        sent += 2
      }
    }
    expect(sent).toBeGreaterThan(500)
  })

  it('answers path tricks, other tenants\' ids and bad queries on every GET, POST and DELETE route without a 5xx', async () => {
    const idLike = ['x', '%00', '..%2F..', '%25', '%zz', '__proto__', 'constructor', 'a'.repeat(300), '%F0%9F%98%80', ' ', ids.jobOfB, ids.evalOfB, ids.fileOfB, ids.checkpointOfB, ids.keyOfB]
    const queries = ['', '?limit=0', '?limit=1e3', '?limit=-1', '?limit=abc', '?after=', '?after=%00', '?after=12345678901234567890', '?format=__proto__', '?format=', '?step=-1', '?step=1e309', '?unknown=1', '?limit=1&limit=2']
    const templates: [string, string][] = [
      ['GET', '/v1/training/jobs'], ['GET', '/v1/training/jobs/:id'], ['GET', '/v1/training/jobs/:id/events'], ['GET', '/v1/training/jobs/:id/checkpoints'],
      ['GET', '/v1/training/jobs/:id/trajectories'], ['GET', '/v1/training/jobs/:id/trajectories/steps'], ['POST', '/v1/training/jobs/:id/cancel'],
      ['GET', '/v1/evaluations'], ['GET', '/v1/evaluations/:id'], ['GET', '/v1/evaluations/:id/events'], ['GET', '/v1/evaluations/:id/results'], ['POST', '/v1/evaluations/:id/cancel'],
      ['GET', '/v1/files'], ['GET', '/v1/files/:id'], ['GET', '/v1/checkpoints/:id/download'], ['GET', '/v1/checkpoints/:id/files/merged/m.bin'],
      ['GET', '/v1/checkpoints/:id/files/:id/:id'], ['GET', '/v1/api_keys'], ['DELETE', '/v1/api_keys/:id'], ['GET', '/v1/models'], ['GET', '/v1/:id'],
      ['GET', '/v1/training/jobs/:job/events'], ['GET', '/v1/training/jobs/:job/trajectories/:id'], ['GET', '/v1/training/jobs/:job/checkpoints'],
      ['GET', '/v1/evaluations/:eval/results'], ['GET', '/v1/evaluations/:eval/events'],
      ['GET', '/v1/checkpoints/:checkpoint/download'], ['GET', '/v1/checkpoints/:checkpoint/files/:id/m.bin'], ['GET', '/v1/checkpoints/:checkpoint/files/merged/:id'],
      ['GET', '/v1/checkpoints'], ['GET', '/v1/checkpoints/:id'], ['GET', '/v1/checkpoints/:id/archive'], ['GET', '/v1/checkpoints/:checkpoint/archive'],
    ]
    let sent = 0
    for (const [method, template] of templates) {
      for (const id of template.includes(':id') ? idLike : ['']) {
        for (const query of queries) {
          const path = template.replace(':job', own.job).replace(':eval', own.eval).replace(':checkpoint', own.checkpoint).replaceAll(':id', id) + query
          const response = await send(method, path)
          expectClean(`${method} ${path}`, response)
          // another tenant's object is never shown to tenant-a
          if (Object.values(ids).some((other) => path.includes(other)) && !template.startsWith('/v1/api_keys')) {
            expect(response.status, `${method} ${path}`).toBe(404)
          }
          sent++
        }
      }
    }
    expect(sent).toBeGreaterThan(1000)
  })

  it('refuses bad credentials on every route with 401 and the envelope', async () => {
    const revoked = await t.request('POST', '/v1/api_keys', { json: { name: 'gone', project_id: 'tenant-a' } })
    await t.request('DELETE', `/v1/api_keys/${revoked.json.id}`)
    const credentials = ['', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', `Bearer ${tenantA}x`, `Bearer ${revoked.json.secret}`, 'Bearer \u00ff', `bearer  ${'a'.repeat(10000)}`]
    for (const [method, path] of [['GET', '/v1/training/jobs'], ['POST', '/v1/evaluations'], ['GET', '/v1/api_keys'], ['POST', '/v1/chat/completions'], ['GET', '/v1/models'], ['GET', `/v1/checkpoints/${ids.checkpointOfB}/download`]]) {
      for (const authorization of credentials) {
        const response = await send(method, path, { authorization, body: method === 'POST' ? '{}' : undefined })
        expectClean(`${method} ${path} with ${JSON.stringify(authorization.slice(0, 30))}`, response)
        expect(response.status, `${method} ${path} with ${JSON.stringify(authorization.slice(0, 30))}`).toBe(401)
      }
    }
    // links that pretend to be signed (signed-links.ts), with no key at all
    const forged = ['?signature=', '?signature=zz', '?signature=00&key_id=%00', `?signature=00&key_id=${ids.keyOfB}&expires=1e309`, `?format=merged&key_id=${revoked.json.id}&expires=99999999999&signature=${'0'.repeat(64)}`]
    for (const path of ['/v1/training/jobs', `/v1/checkpoints/${own.checkpoint}/archive`, `/v1/checkpoints/${ids.checkpointOfB}/archive`]) {
      for (const query of forged) {
        const response = await send('GET', path + query, { key: null })
        expectClean(`GET ${path}${query}`, response)
        expect(response.status, `GET ${path}${query}`).toBe(401)
      }
    }
  })
})
