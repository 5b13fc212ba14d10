// The project's checkpoints through the API: listed in pages across jobs, named as fine-tuned chat
// models, and downloaded as one tar archive, by key or by a signed link, that GNU tar and Python's
// tarfile unpack to the stored bytes.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signLink } from '../../edge/signed-links.ts'
import { tarSize, tarStream } from '../../edge/tar.ts'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import { readAll } from '../../shared/blob/store.ts'
import { findKeyById } from '../../shared/db/api-keys.ts'
import { checkpointIdOf, fineTunedModelName, insertCheckpoint, servableCheckpoint } from '../../shared/db/checkpoints.ts'
import type { OpenDatabase } from '../../shared/db/database.ts'
import { createJob } from '../../shared/db/jobs.ts'
import { describePostgres, freshPostgres } from '../helpers/databases.ts'
import { expectApiError, testApp } from '../helpers/app.ts'

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')
const bytesOf = (n: number, seed: number) => new Uint8Array(Array.from({ length: n }, (_, i) => (i * 31 + seed) % 251))
const streamOf = (bytes: Uint8Array) => new ReadableStream<Uint8Array>({ start(c) { c.enqueue(bytes); c.close() } })

describe('fine-tuned model names', () => {
  it('follow OpenAI\'s form and give back their checkpoint id', () => {
    expect(fineTunedModelName('hf:Qwen/Qwen3-0.6B', 'default', 'my-agent', 'ckpt-abc')).toBe('ft:Qwen3-0.6B:default:my-agent:ckpt-abc')
    expect(fineTunedModelName('/models/base model/', 'team a', undefined, 'ckpt-abc')).toBe('ft:base-model:team-a:ckpt-abc')
    expect(checkpointIdOf('ft:Qwen3-0.6B:default:my-agent:ckpt-abc')).toBe('ckpt-abc')
    expect(checkpointIdOf('ckpt-abc')).toBe('ckpt-abc')
    expect(checkpointIdOf('ft:Qwen3-0.6B:default:ckpt-abc:x')).toBeUndefined()
    expect(checkpointIdOf('prompt-r1-agent')).toBeUndefined()
  })
})

describe('tar archives', () => {
  it('use a pax header for a path past 100 bytes and a size past 8 GiB', async () => {
    const huge = 9 * 2 ** 30
    const entries = [{ path: `${'d'.repeat(90)}/${'f'.repeat(30)}.bin`, bytes: huge, open: async () => streamOf(new Uint8Array(0)) }]
    const reader = tarStream(entries, 0).getReader()
    const head = new Uint8Array(1536)
    for (let filled = 0; filled < head.length;) {
      const { value } = await reader.read()
      head.set(value!.subarray(0, head.length - filled), filled)
      filled += value!.length
    }
    await reader.cancel()
    const text = (from: number, to: number) => new TextDecoder().decode(head.subarray(from, to)).replace(/\0+$/, '')
    expect(text(156, 157)).toBe('x')
    const records = text(512, 1024)
    expect(records).toContain(` path=${entries[0].path}\n`)
    expect(records).toContain(` size=${huge}\n`)
    // each record's length counts itself
    for (const record of records.match(/\d+ [^\n]*\n/g)!) expect(Number(record.split(' ')[0])).toBe(new TextEncoder().encode(record).length)
    expect(text(1024 + 124, 1024 + 135)).toBe('77777777777')
    expect(tarSize(entries)).toBe(512 + 512 + 512 + huge + 1024)
  })

  it('end with an error when a stored object is shorter than its entry says', async () => {
    const stream = tarStream([{ path: 'a.bin', bytes: 10, open: async () => streamOf(new Uint8Array(9)) }])
    await expect(readAll(stream)).rejects.toThrow('has 9 of its 10 bytes')
  })
})

describePostgres('checkpoints API', () => {
  let database: OpenDatabase
  let t: Awaited<ReturnType<typeof testApp>>
  let blobs: LocalBlobStore
  let tenantA: string
  let tenantB: string
  const files = [
    { path: 'config.json', bytes: new TextEncoder().encode('{"model_type": "qwen3"}') },
    { path: 'model-00001-of-00002.safetensors', bytes: bytesOf(70_000, 1) },
    { path: 'model-00002-of-00002.safetensors', bytes: bytesOf(513, 2) },
    { path: `tokenizer/${'long-name-'.repeat(12)}.json`, bytes: bytesOf(1024, 3) },
  ]

  beforeAll(async () => {
    database = await freshPostgres()
    blobs = new LocalBlobStore(mkdtempSync(join(tmpdir(), 'ckpt-blobs-')))
    t = await testApp(database, blobs)
    tenantA = await t.projectKey('tenant-a')
    tenantB = await t.projectKey('tenant-b')
  })
  afterAll(async () => { await database.close() })

  async function mergedCheckpoint(projectId: string, step: number, suffix?: string) {
    const job = await createJob(database.db, { projectId, kind: 'train', config: { model: 'hf:Qwen/Qwen3-0.6B' }, maxAttempts: 3 })
    const stored = []
    for (const file of files) {
      const blobKey = `jobs/${job.id}/checkpoints/step-${step}/merged/${file.path}`
      stored.push({ path: file.path, blobKey, ...await blobs.put(blobKey, file.bytes) })
    }
    return insertCheckpoint(database.db, { projectId, jobId: job.id, step, kind: 'merged', files: { merged: stored } }, { base: 'hf:Qwen/Qwen3-0.6B', suffix })
  }

  it('lists the project\'s checkpoints of every job, newest first, in pages', async () => {
    const made = [await mergedCheckpoint('tenant-a', 1), await mergedCheckpoint('tenant-a', 2, 'v2'), await mergedCheckpoint('tenant-a', 3)]
    await mergedCheckpoint('tenant-b', 1)
    const first = await t.request('GET', '/v1/checkpoints?limit=2', { key: tenantA })
    expect(first.json).toMatchObject({ object: 'list', has_more: true })
    const second = await t.request('GET', `/v1/checkpoints?limit=2&after=${first.json.data[1].id}`, { key: tenantA })
    expect(second.json.has_more).toBe(false)
    expect([...first.json.data, ...second.json.data].map((c: any) => c.id)).toEqual(made.map((c) => c.id).reverse())
    expect(second.json.data[0]).toMatchObject({
      object: 'fine_tuning.job.checkpoint', fine_tuning_job_id: made[0].jobId, kind: 'merged', formats: ['merged'],
      fine_tuned_model: `ft:Qwen3-0.6B:tenant-a:${made[0].id}`,
    })
    expect((await t.request('GET', `/v1/checkpoints/${made[1].id}`, { key: tenantA })).json.fine_tuned_model).toBe(`ft:Qwen3-0.6B:tenant-a:v2:${made[1].id}`)
    expectApiError(await t.request('GET', `/v1/checkpoints/${made[1].id}`, { key: tenantB }), 404, 'not_found')
    expectApiError(await t.request('GET', `/v1/checkpoints?after=${made[1].id}`, { key: tenantB }), 400, 'invalid_cursor', 'after')
    expectApiError(await t.request('GET', '/v1/checkpoints?limit=0', { key: tenantA }), 400, 'invalid_parameter', 'limit')
  })

  it('serves a merged checkpoint to chat by its id or its whole fine-tuned name, in its own project only', async () => {
    const checkpoint = await mergedCheckpoint('tenant-a', 5, 'named')
    expect((await servableCheckpoint(database.db, 'tenant-a', checkpoint.id))?.id).toBe(checkpoint.id)
    expect((await servableCheckpoint(database.db, 'tenant-a', checkpoint.modelName!))?.id).toBe(checkpoint.id)
    expect(await servableCheckpoint(database.db, 'tenant-a', `ft:other:tenant-a:${checkpoint.id}`)).toBeUndefined()
    expect(await servableCheckpoint(database.db, 'tenant-b', checkpoint.modelName!)).toBeUndefined()
  })

  it('downloads a checkpoint as one tar that tar and Python unpack to the stored files', async () => {
    const checkpoint = await mergedCheckpoint('tenant-a', 7)
    const download = await t.request('GET', `/v1/checkpoints/${checkpoint.id}/download?format=merged`, { key: tenantA })
    const archive = download.json.archive
    expect(archive).toMatchObject({ filename: `${checkpoint.id}-merged.tar`, expires_at: expect.any(Number) })
    expect(archive.url.startsWith(`/v1/checkpoints/${checkpoint.id}/archive?format=merged&key_id=`)).toBe(true)

    // by the signed link, with no key, as a browser follows it
    const response = await t.app.request(archive.url)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('application/x-tar')
    const tar = new Uint8Array(await response.arrayBuffer())
    expect(tar.length).toBe(archive.bytes)
    expect(Number(response.headers.get('content-length'))).toBe(tar.length)
    const folder = mkdtempSync(join(tmpdir(), 'ckpt-archive-'))
    writeFileSync(join(folder, 'a.tar'), tar)
    execFileSync('tar', ['-xf', 'a.tar'], { cwd: folder })
    for (const file of files) expect(sha256(readFileSync(join(folder, `${checkpoint.id}-merged`, file.path)))).toBe(sha256(file.bytes))
    const listed = execFileSync('python3', ['-c', 'import sys, tarfile, hashlib\nwith tarfile.open(sys.argv[1]) as t:\n  for m in t.getmembers(): print(m.name, m.size, hashlib.sha256(t.extractfile(m).read()).hexdigest())', join(folder, 'a.tar')], { encoding: 'utf8' })
    expect(listed.trim().split('\n')).toEqual(files.map((f) => `${checkpoint.id}-merged/${f.path} ${f.bytes.length} ${sha256(f.bytes)}`))

    // by key, the same bytes
    const byKey = await t.app.request(`/v1/checkpoints/${checkpoint.id}/archive`, { headers: { authorization: `Bearer ${tenantA}` } })
    expect(new Uint8Array(await byKey.arrayBuffer())).toEqual(tar)
  })

  it('refuses a link that is altered, expired, for another checkpoint, or of a revoked key', async () => {
    const checkpoint = await mergedCheckpoint('tenant-a', 8)
    const other = await mergedCheckpoint('tenant-a', 9)
    const own = await t.projectKey('tenant-a') // revoked at the end
    const url = (await t.request('GET', `/v1/checkpoints/${checkpoint.id}/download`, { key: own })).json.archive.url as string
    const plain = async (path: string) => {
      const response = await t.app.request(path)
      return { status: response.status, json: await response.json().catch(() => undefined) }
    }
    expectApiError(await plain(url.replace(/signature=(.)/, (_, c) => `signature=${c === 'a' ? 'b' : 'a'}`)), 401, 'invalid_signature')
    expectApiError(await plain(url.replace(checkpoint.id, other.id)), 401, 'invalid_signature')
    expectApiError(await plain(url.replace('format=merged', 'format=gguf')), 401, 'invalid_signature')
    expectApiError(await plain(url.replace(/expires=\d+/, (e) => `expires=${Number(e.slice(8)) + 1}`)), 401, 'invalid_signature')
    expectApiError(await plain(url.replace(/key_id=[^&]+/, 'key_id=key-nope')), 401, 'invalid_signature')
    expectApiError(await plain(`/v1/checkpoints/${checkpoint.id}/archive?format=merged&signature=00`), 401, 'invalid_signature')
    // a signed link opens GETs only
    expect((await t.app.request(url, { method: 'POST' })).status).toBe(401)
    const keyId = new URL(url, 'http://x').searchParams.get('key_id')!
    const key = (await findKeyById(database.db, keyId))!
    const expired = await signLink(key, `/v1/checkpoints/${checkpoint.id}/archive`, { format: 'merged' }, Math.floor(Date.now() / 1000) - 1)
    expectApiError(await plain(expired), 401, 'link_expired')
    // another project's checkpoint stays not found, signed or not
    const foreign = await mergedCheckpoint('tenant-b', 1)
    expectApiError(await plain(await signLink(key, `/v1/checkpoints/${foreign.id}/archive`, { format: 'merged' }, Math.floor(Date.now() / 1000) + 60)), 404, 'not_found')
    expect((await t.request('DELETE', `/v1/api_keys/${keyId}`)).status).toBe(200)
    expectApiError(await plain(url), 401, 'revoked_api_key')
  })

  it('answers 404 before streaming when a stored file is gone', async () => {
    const checkpoint = await mergedCheckpoint('tenant-a', 10)
    await blobs.delete(checkpoint.files.merged![2].blobKey)
    expectApiError(await t.request('GET', `/v1/checkpoints/${checkpoint.id}/archive`, { key: tenantA }), 404, 'not_found', 'format')
  })
})
