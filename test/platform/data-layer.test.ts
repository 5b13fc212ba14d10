// The data layer on both databases it runs on: the embedded PGlite and a Postgres server.
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createApiKey, ensureAdminKey, findKeyBySecret, revokeApiKey } from '../../shared/db/api-keys.ts'
import { insertCheckpoint, listCheckpoints } from '../../shared/db/checkpoints.ts'
import type { OpenDatabase } from '../../shared/db/database.ts'
import {
  appendEvent, cancelJob, createJob, finishJob, getJob, heartbeat, leaseJob, listEvents, listJobs, reapExpiredLeases,
} from '../../shared/db/jobs.ts'
import { RunLog } from '../../shared/db/runs.ts'
import { apiKeys, jobs, runs } from '../../shared/db/schema.ts'
import { sha256Hex } from '../../shared/ids.ts'
import { filePglite, freshPostgres, postgresUrl } from '../helpers/databases.ts'

const backends: [string, () => Promise<OpenDatabase>][] = [['PGlite', filePglite]]
if (postgresUrl) backends.push(['Postgres server', () => freshPostgres()])
else console.warn('SKIPPED the Postgres-server half of the data-layer tests: no Postgres server (see the test setup)')

describe.each(backends)('data layer on %s', (_name, open) => {
  let database: OpenDatabase
  beforeAll(async () => { database = await open() })
  afterAll(async () => { if (database.driver === 'postgres') await database.close() })
  const project = () => `p-${Math.random().toString(36).slice(2)}`
  // push a job's lease into the past, as if its worker had stopped heartbeating long ago
  const expireLease = (id: string) =>
    database.db.update(jobs).set({ leaseExpiresAt: sql`now() - interval '1 second'` }).where(sql`id = ${id}`)

  it('stores only a hash and a prefix of an API key, finds it by secret, and revokes it', async () => {
    const { key, secret } = await createApiKey(database.db, { projectId: 'p1', name: 'ci', isAdmin: false })
    const [row] = await database.db.select().from(apiKeys).where(sql`id = ${key.id}`)
    expect(JSON.stringify(row)).not.toContain(secret)
    expect(row.secretHash).toBe(await sha256Hex(secret))
    expect(secret.startsWith(row.prefix)).toBe(true)
    expect(row.prefix.length).toBeLessThan(secret.length / 3)
    expect((await findKeyBySecret(database.db, secret))?.id).toBe(key.id)
    expect(await findKeyBySecret(database.db, secret + 'x')).toBeUndefined()
    expect((await revokeApiKey(database.db, key.id))?.revokedAt).toBeInstanceOf(Date)
  })

  it('records chat runs a batch per insert while one is on its way; a failed insert fails its batch only', async () => {
    const projectId = project()
    const row = (id: string) => ({ id, projectId, model: 'm', question: 'q', answer: 'a', trajectory: [], usage: {}, timings: {} })
    const log = new RunLog(database.db)
    const inserts = vi.spyOn(database.db, 'insert')
    try {
      // the first goes at once, the other nineteen wait for it and go together
      await Promise.all(Array.from({ length: 20 }, (_, i) => log.record(row(`${projectId}-${i}`))))
      expect(inserts).toHaveBeenCalledTimes(2)
      const stored = await database.db.select({ id: runs.id }).from(runs).where(sql`project_id = ${projectId}`)
      expect(stored.map((r) => r.id).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `${projectId}-${i}`).sort())
      // a duplicate id fails the statement it is in, and the run beside it, but not the next batch
      const results = await Promise.allSettled([log.record(row(`${projectId}-a`)), log.record(row(`${projectId}-0`)), log.record(row(`${projectId}-b`))])
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected'])
      await log.record(row(`${projectId}-c`))
      const after = await database.db.select({ id: runs.id }).from(runs).where(sql`project_id = ${projectId}`)
      expect(after.length).toBe(22)
    } finally {
      inserts.mockRestore()
    }
  })

  it('generates an admin key once, and registers a configured one idempotently', async () => {
    const configured = 'pr1-configured-admin-key-0123456789'
    expect(await ensureAdminKey(database.db, configured)).toBeUndefined()
    expect(await ensureAdminKey(database.db, configured)).toBeUndefined()
    const key = await findKeyBySecret(database.db, configured)
    expect(key).toMatchObject({ isAdmin: true, isSuperuser: true })
    const count = await database.db.select().from(apiKeys).where(sql`secret_hash = ${key!.secretHash}`)
    expect(count).toHaveLength(1)
  })

  it('lists a project\'s jobs newest first with cursor pages, and never another project\'s', async () => {
    const mine = project()
    const created = []
    for (let i = 0; i < 5; i++) created.push(await createJob(database.db, { projectId: mine, kind: 'noop', config: { i }, maxAttempts: 3 }))
    await createJob(database.db, { projectId: project(), kind: 'noop', config: {}, maxAttempts: 3 })
    const first = await listJobs(database.db, { projectId: mine, kinds: ['noop'], limit: 2 })
    expect(first.hasMore).toBe(true)
    const second = await listJobs(database.db, { projectId: mine, kinds: ['noop'], limit: 2, after: first.data[1] })
    const third = await listJobs(database.db, { projectId: mine, kinds: ['noop'], limit: 2, after: second.data[1] })
    expect(third.hasMore).toBe(false)
    const ids = [...first.data, ...second.data, ...third.data].map((j) => j.id)
    expect(ids).toEqual(created.map((j) => j.id).reverse())
    expect(await getJob(database.db, 'someone-else', created[0].id)).toBeUndefined()
  })

  it('numbers a job\'s events 1, 2, 3... even when written concurrently, and pages through them', async () => {
    const job = await createJob(database.db, { projectId: project(), kind: 'noop', config: {}, maxAttempts: 3 })
    await Promise.all(Array.from({ length: 20 }, (_, i) =>
      appendEvent(database.db, job.id, { level: 'info', type: 'metrics', message: `m${i}`, data: { i } })))
    const all = await listEvents(database.db, job.id, 0, 1000)
    expect(all.data.map((e) => e.seq)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1))
    const page = await listEvents(database.db, job.id, 10, 5)
    expect(page.data.map((e) => e.seq)).toEqual([11, 12, 13, 14, 15])
    expect(page.hasMore).toBe(true)
    await expect(appendEvent(database.db, 'ftjob-missing', { level: 'info', type: 'message', message: 'x' })).rejects.toThrow(/does not exist/)
  })

  it('leases the oldest queued job of the worker\'s kinds, heartbeats, and finishes only as the owner', async () => {
    const p = project()
    const train = await createJob(database.db, { projectId: p, kind: 'train', config: {}, maxAttempts: 3 })
    const noop = await createJob(database.db, { projectId: p, kind: 'noop', config: {}, maxAttempts: 3 })
    await database.db.update(jobs).set({ status: 'succeeded' }).where(sql`status = 'queued' and id <> ${noop.id} and id <> ${train.id}`)
    const leased = await leaseJob(database.db, { workerId: 'w1', kinds: ['noop'], leaseMs: 60_000 })
    expect(leased).toMatchObject({ id: noop.id, status: 'running', leaseOwner: 'w1', attempt: 1 })
    expect(leased!.leaseExpiresAt!.getTime()).toBeGreaterThan(Date.now() + 50_000)
    expect(await leaseJob(database.db, { workerId: 'w2', kinds: ['noop'], leaseMs: 60_000 })).toBeUndefined()
    expect(await heartbeat(database.db, { jobId: noop.id, workerId: 'w1', leaseMs: 60_000 })).toBe('running')
    expect(await heartbeat(database.db, { jobId: noop.id, workerId: 'w2', leaseMs: 60_000 })).toBe('lost')
    expect(await finishJob(database.db, { jobId: noop.id, workerId: 'w2', status: 'succeeded' })).toBe(false)
    expect(await finishJob(database.db, { jobId: noop.id, workerId: 'w1', status: 'succeeded', result: { ok: 1 } })).toBe(true)
    const done = await getJob(database.db, p, noop.id)
    expect(done).toMatchObject({ status: 'succeeded', result: { ok: 1 }, leaseOwner: null })
    expect(done!.finishedAt).toBeInstanceOf(Date)
    expect((await getJob(database.db, p, train.id))!.status).toBe('queued')
  })

  it('puts a job whose lease expired back in the queue as the next attempt, and fails it after the last', async () => {
    const p = project()
    const job = await createJob(database.db, { projectId: p, kind: 'noop', config: {}, maxAttempts: 2 })
    await database.db.update(jobs).set({ status: 'succeeded' }).where(sql`status = 'queued' and id <> ${job.id}`)
    await leaseJob(database.db, { workerId: 'crashed-1', kinds: ['noop'], leaseMs: 60_000 })
    expect(await reapExpiredLeases(database.db)).toEqual([])
    await expireLease(job.id)
    expect(await reapExpiredLeases(database.db)).toEqual([{ id: job.id, status: 'queued', attempt: 2 }])
    expect(await heartbeat(database.db, { jobId: job.id, workerId: 'crashed-1', leaseMs: 60_000 })).toBe('lost')
    const second = await leaseJob(database.db, { workerId: 'crashed-2', kinds: ['noop'], leaseMs: 60_000 })
    expect(second).toMatchObject({ id: job.id, attempt: 2, leaseOwner: 'crashed-2' })
    await expireLease(job.id)
    expect(await reapExpiredLeases(database.db)).toEqual([{ id: job.id, status: 'failed', attempt: 2 }])
    const failed = await getJob(database.db, p, job.id)
    expect(failed!.error).toEqual({
      code: 'max_attempts_exceeded', message: 'the job lost its worker (lease expired) on all 2 attempts', param: null,
    })
    const messages = (await listEvents(database.db, job.id, 0, 100)).data.map((e) => e.message)
    expect(messages).toContain('Lease expired: the worker stopped heartbeating; queued again as attempt 2')
    expect(messages).toContain('Lease expired on the last attempt; the job failed')
  })

  it('cancels a queued job at once and a running one through its worker\'s next heartbeat', async () => {
    const p = project()
    const queued = await createJob(database.db, { projectId: p, kind: 'eval', config: {}, maxAttempts: 3 })
    const cancelled = await cancelJob(database.db, queued)
    expect('job' in cancelled && cancelled.job.status).toBe('cancelled')
    const running = await createJob(database.db, { projectId: p, kind: 'eval', config: {}, maxAttempts: 3 })
    const leased = await leaseJob(database.db, { workerId: 'w-c', kinds: ['eval'], leaseMs: 60_000 })
    expect(leased!.id).toBe(running.id)
    const outcome = await cancelJob(database.db, running)
    expect('job' in outcome && outcome.job.status).toBe('cancelling')
    expect(await heartbeat(database.db, { jobId: running.id, workerId: 'w-c', leaseMs: 60_000 })).toBe('cancelling')
    expect(await finishJob(database.db, { jobId: running.id, workerId: 'w-c', status: 'cancelled' })).toBe(true)
    const again = await cancelJob(database.db, (await getJob(database.db, p, running.id))!)
    expect('job' in again && again.job.status).toBe('cancelled')
    const finished = await createJob(database.db, { projectId: p, kind: 'eval', config: {}, maxAttempts: 3 })
    await database.db.update(jobs).set({ status: 'succeeded' }).where(sql`id = ${finished.id}`)
    expect(await cancelJob(database.db, finished)).toHaveProperty('notCancellable')
  })

  it('lists a job\'s checkpoints latest step first', async () => {
    const p = project()
    const job = await createJob(database.db, { projectId: p, kind: 'train', config: {}, maxAttempts: 3 })
    for (const step of [10, 20, 30]) {
      await insertCheckpoint(database.db, { projectId: p, jobId: job.id, step, kind: 'adapter', files: { adapter: [] }, metrics: { reward: step / 100 } })
    }
    const first = await listCheckpoints(database.db, job.id, undefined, 2)
    if (first === 'invalid_cursor') throw new Error('unexpected')
    expect(first.data.map((c) => c.step)).toEqual([30, 20])
    const rest = await listCheckpoints(database.db, job.id, first.data[1].id, 2)
    if (rest === 'invalid_cursor') throw new Error('unexpected')
    expect(rest.data.map((c) => c.step)).toEqual([10])
    expect(await listCheckpoints(database.db, job.id, 'ckpt-nope', 2)).toBe('invalid_cursor')
  })
})
