// The job queue under contention on a Postgres server: 8 workers, each with its own connections,
// drain 500 jobs. Every holding of a job is recorded from inside the runner; no job may be held by
// two workers at once, none may be lost, and each must have been leased exactly once.
import { sql } from 'drizzle-orm'
import { expect, it } from 'vitest'
import { type JobRunner, JobWorker } from '../../gpu-worker/worker.ts'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import type { OpenDatabase } from '../../shared/db/database.ts'
import { createJob, leaseJob } from '../../shared/db/jobs.ts'
import { jobEvents, jobs } from '../../shared/db/schema.ts'
import { openPostgres } from '../../shared/db/postgres.ts'
import { describePostgres, freshPostgresUrl } from '../helpers/databases.ts'

const WORKERS = 8
const JOBS = 500

describePostgres('job queue on a Postgres server', () => {
  it('one lease takes exactly one job, whatever plan Postgres picks', async () => {
    const { db, close } = openPostgres(await freshPostgresUrl(), { maxConnections: 1 })
    await db.insert(jobs).values(Array.from({ length: 20 }, (_, i) => ({
      id: `ftjob-plan-${String(i).padStart(2, '0')}`, projectId: 'plan', kind: 'noop' as const, status: 'queued' as const, config: {},
    })))
    // No ANALYZE: with the empty table's statistics Postgres plans `id in (subquery)` as a nested
    // loop that re-runs the SKIP LOCKED subquery per row, and that leases most of these 20 jobs.
    const leased = await leaseJob(db, { workerId: 'w', kinds: ['noop'], leaseMs: 60_000 })
    expect(leased?.id).toBe('ftjob-plan-00')
    const running = await db.select({ id: jobs.id }).from(jobs).where(sql`status = 'running'`)
    expect(running).toEqual([{ id: 'ftjob-plan-00' }])
    await close()
  })

  it(`${WORKERS} concurrent workers drain ${JOBS} jobs: no double lease, none lost`, async () => {
    const url = await freshPostgresUrl()
    const setup = openPostgres(url, { maxConnections: 4 })
    const ids = new Set<string>()
    for (let i = 0; i < JOBS; i += 50) {
      const batch = await Promise.all(Array.from({ length: 50 }, () =>
        createJob(setup.db, { projectId: 'load', kind: 'noop', config: {}, maxAttempts: 3 })))
      for (const job of batch) ids.add(job.id)
    }

    const holders = new Map<string, string>()
    const overlaps: string[] = []
    const runsByJob = new Map<string, number>()
    const connections: OpenDatabase[] = []
    const runner = (workerId: () => string): JobRunner => async ({ job }) => {
      const other = holders.get(job.id)
      if (other) overlaps.push(`${job.id} held by ${other} and ${workerId()}`)
      holders.set(job.id, workerId())
      runsByJob.set(job.id, (runsByJob.get(job.id) ?? 0) + 1)
      // hold the job across a few event-loop turns so that overlaps would have room to happen
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 3))
      holders.delete(job.id)
      return { result: { by: workerId() } }
    }
    const workers = Array.from({ length: WORKERS }, (_, n) => {
      const connection = openPostgres(url, { maxConnections: 2 })
      connections.push(connection)
      const worker: JobWorker = new JobWorker({
        db: connection.db, blobs: new LocalBlobStore('/nonexistent'), id: `load-worker-${n}`,
        runners: { noop: runner(() => worker.id) }, leaseMs: 60_000, heartbeatMs: 5_000, pollMs: 20,
      })
      return worker
    })
    const started = Date.now()
    await Promise.all(workers.map((w) => w.start()))
    let remaining = JOBS
    while (remaining > 0 && Date.now() - started < 45_000) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      const [row] = await setup.db.select({ n: sql<number>`count(*)::int` }).from(jobs).where(sql`status <> 'succeeded'`)
      remaining = row.n
    }
    await Promise.all(workers.map((w) => w.stop()))

    expect(overlaps).toEqual([])
    expect(remaining).toBe(0)
    const rows = await setup.db.select().from(jobs)
    expect(rows).toHaveLength(JOBS)
    expect(new Set(rows.map((r) => r.id))).toEqual(ids)
    for (const row of rows) expect(row).toMatchObject({ status: 'succeeded', attempt: 1, leaseOwner: null })
    expect([...runsByJob.values()].every((n) => n === 1)).toBe(true)
    expect(runsByJob.size).toBe(JOBS)
    // the database's own record: one lease per job, taken by the worker named in its result
    const leases = await setup.db.select({ jobId: jobEvents.jobId, message: jobEvents.message }).from(jobEvents)
      .where(sql`message like 'Worker % started attempt %'`)
    expect(leases).toHaveLength(JOBS)
    const byJob = new Map(rows.map((r) => [r.id, r.result?.by]))
    for (const lease of leases) expect(lease.message).toContain(`Worker ${byJob.get(lease.jobId)} started`)
    // the work was shared: every worker took some
    const perWorker = new Set(rows.map((r) => r.result?.by))
    expect(perWorker.size).toBe(WORKERS)
    console.log(`${JOBS} jobs through ${WORKERS} workers in ${Date.now() - started} ms`)

    await Promise.all([...connections, setup].map((c) => c.close()))
  })
})
