// The job queue on Postgres. A worker leases a queued job with FOR UPDATE SKIP LOCKED, keeps the
// lease alive with heartbeats, and finishes it only while it still owns the lease. Leases that
// expire are reaped: the job goes back to the queue as its next attempt, or fails after the last.
// All times come from the database's clock so that workers' clocks do not matter.
import { and, asc, desc, eq, gt, inArray, lt, or, sql } from 'drizzle-orm'
import { newId } from '../ids.ts'
import type { Database } from './database.ts'
import {
  type ApiErrorBody, type JobKind, type JobProgress, type JobStatus, FINISHED_STATUSES, jobEvents, jobs,
} from './schema.ts'

export type Job = typeof jobs.$inferSelect
export type JobEvent = typeof jobEvents.$inferSelect
export type NewEvent = Pick<JobEvent, 'level' | 'type' | 'message'> & { data?: Record<string, unknown> | null }

const leaseUntil = (leaseMs: number) => sql`now() + ${leaseMs} * interval '1 millisecond'`

export async function createJob(db: Database, input: {
  projectId: string; kind: JobKind; config: Record<string, unknown>; maxAttempts: number; status?: JobStatus
}): Promise<Job> {
  const [job] = await db.insert(jobs).values({
    id: newId(input.kind === 'eval' ? 'evaljob' : 'ftjob'),
    projectId: input.projectId,
    kind: input.kind,
    status: input.status ?? 'queued',
    config: input.config,
    maxAttempts: input.maxAttempts,
  }).returning()
  await appendEvent(db, job.id, { level: 'info', type: 'message', message: `Created ${input.kind} job` })
  return job
}

export async function getJob(db: Database, projectId: string, id: string): Promise<Job | undefined> {
  const [job] = await db.select().from(jobs).where(and(eq(jobs.id, id), eq(jobs.projectId, projectId)))
  return job
}

// Newest first; `after` is the id of the last job of the previous page.
export async function listJobs(db: Database, input: {
  projectId: string; kinds: JobKind[]; after?: Job; limit: number
}): Promise<{ data: Job[]; hasMore: boolean }> {
  const { projectId, kinds, after, limit } = input
  const rows = await db.select().from(jobs).where(and(
    eq(jobs.projectId, projectId),
    inArray(jobs.kind, kinds),
    after ? or(lt(jobs.createdAt, after.createdAt), and(eq(jobs.createdAt, after.createdAt), lt(jobs.id, after.id))) : undefined,
  )).orderBy(desc(jobs.createdAt), desc(jobs.id)).limit(limit + 1)
  return { data: rows.slice(0, limit), hasMore: rows.length > limit }
}

/** The project's latest succeeded training job of this base model: what a new job's time is estimated from. */
export async function latestSucceededTraining(db: Database, projectId: string, model: string): Promise<Job | undefined> {
  const [row] = await db.select().from(jobs).where(and(
    eq(jobs.projectId, projectId), eq(jobs.kind, 'train'), eq(jobs.status, 'succeeded'), sql`${jobs.config}->>'model' = ${model}`,
  )).orderBy(desc(jobs.finishedAt), desc(jobs.id)).limit(1)
  return row
}

// One statement: bumping the job's counter takes its row lock, so events commit in seq order
// and a reader paging with `after` never skips one that commits late.
export async function appendEvent(db: Database, jobId: string, event: NewEvent): Promise<number> {
  const data = event.data == null ? null : JSON.stringify(event.data)
  const result = await db.execute(sql`
    with next as (update ${jobs} set event_seq = event_seq + 1 where id = ${jobId} returning event_seq)
    insert into ${jobEvents} (job_id, seq, level, type, message, data)
    select ${jobId}, event_seq, ${event.level}, ${event.type}, ${event.message}, ${data}::jsonb from next
    returning seq`)
  const rows = rowsOf<{ seq: number | string }>(result)
  if (rows.length === 0) throw new Error(`job ${jobId} does not exist`)
  return Number(rows[0].seq)
}

export async function listEvents(db: Database, jobId: string, afterSeq: number, limit: number) {
  const rows = await db.select().from(jobEvents)
    .where(and(eq(jobEvents.jobId, jobId), gt(jobEvents.seq, afterSeq)))
    .orderBy(asc(jobEvents.seq)).limit(limit + 1)
  return { data: rows.slice(0, limit), hasMore: rows.length > limit }
}

export type CancelOutcome = { job: Job } | { notCancellable: Job }

// Queued jobs are cancelled at once; running ones become `cancelling` until their worker sees it.
export async function cancelJob(db: Database, job: Job): Promise<CancelOutcome> {
  const [updated] = await db.update(jobs).set({
    status: sql`case when status = 'running' then 'cancelling' else 'cancelled' end`,
    finishedAt: sql`case when status = 'running' then null else now() end`,
  }).where(and(eq(jobs.id, job.id), inArray(jobs.status, ['validating_files', 'queued', 'running']))).returning()
  if (updated) {
    await appendEvent(db, job.id, {
      level: 'info', type: 'message',
      message: updated.status === 'cancelled' ? 'Job cancelled' : 'Cancellation requested; waiting for the worker',
    })
    return { job: updated }
  }
  const current = (await getJob(db, job.projectId, job.id))!
  return current.status === 'cancelling' || current.status === 'cancelled' ? { job: current } : { notCancellable: current }
}

export async function setJobStatus(db: Database, jobId: string, from: JobStatus, to: JobStatus, error?: ApiErrorBody) {
  const finished = FINISHED_STATUSES.includes(to)
  const [job] = await db.update(jobs).set({ status: to, error, finishedAt: finished ? sql`now()` : undefined })
    .where(and(eq(jobs.id, jobId), eq(jobs.status, from))).returning()
  return job
}

// --- the worker's side ---

export async function leaseJob(db: Database, input: { workerId: string; kinds: JobKind[]; leaseMs: number }): Promise<Job | undefined> {
  const next = db.select({ id: jobs.id }).from(jobs)
    .where(and(eq(jobs.status, 'queued'), inArray(jobs.kind, input.kinds)))
    .orderBy(asc(jobs.createdAt), asc(jobs.id)).limit(1)
    .for('update', { skipLocked: true })
  // `id = (subquery)`, not `id in (subquery)`: Postgres may run an IN subquery once per candidate
  // row, and with SKIP LOCKED each run finds another job, so one call could lease many.
  const isNext = sql`${jobs.id} = (${next})`
  const [job] = await db.update(jobs).set({
    status: 'running',
    leaseOwner: input.workerId,
    leaseExpiresAt: leaseUntil(input.leaseMs),
    heartbeatAt: sql`now()`,
    startedAt: sql`coalesce(${jobs.startedAt}, now())`,
  }).where(and(isNext, eq(jobs.status, 'queued'))).returning()
  if (job) {
    await appendEvent(db, job.id, {
      level: 'info', type: 'message',
      message: `Worker ${input.workerId} started attempt ${job.attempt} of ${job.maxAttempts}`,
    })
  }
  return job
}

// 'lost': another worker may own the job now (or it was finished); stop working on it at once.
export type HeartbeatOutcome = 'running' | 'cancelling' | 'lost'

export async function heartbeat(db: Database, input: { jobId: string; workerId: string; leaseMs: number }): Promise<HeartbeatOutcome> {
  const [row] = await db.update(jobs).set({ heartbeatAt: sql`now()`, leaseExpiresAt: leaseUntil(input.leaseMs) })
    .where(ownedBy(input.jobId, input.workerId)).returning({ status: jobs.status })
  return row ? (row.status as 'running' | 'cancelling') : 'lost'
}

export async function finishJob(db: Database, input: {
  jobId: string; workerId: string; status: 'succeeded' | 'failed' | 'cancelled'
  result?: Record<string, unknown>; error?: ApiErrorBody
}): Promise<boolean> {
  const [row] = await db.update(jobs).set({
    status: input.status, result: input.result, error: input.error, progress: null,
    finishedAt: sql`now()`, leaseOwner: null, leaseExpiresAt: null,
  }).where(ownedBy(input.jobId, input.workerId)).returning({ id: jobs.id })
  return row !== undefined
}

/** What the job is doing now; written only by the worker holding its lease. */
export async function setJobProgress(db: Database, input: { jobId: string; workerId: string; progress: JobProgress }): Promise<void> {
  await db.update(jobs).set({ progress: input.progress }).where(ownedBy(input.jobId, input.workerId))
}

function ownedBy(jobId: string, workerId: string) {
  return and(eq(jobs.id, jobId), eq(jobs.leaseOwner, workerId), inArray(jobs.status, ['running', 'cancelling']))
}

// Jobs whose worker stopped heartbeating: back to the queue as the next attempt, or failed after
// the last one; a job that was being cancelled is simply cancelled.
export async function reapExpiredLeases(db: Database): Promise<Pick<Job, 'id' | 'status' | 'attempt'>[]> {
  const lastAttempt = sql`${jobs.attempt} >= ${jobs.maxAttempts}`
  const reaped = await db.update(jobs).set({
    status: sql`case when ${jobs.status} = 'cancelling' then 'cancelled' when ${lastAttempt} then 'failed' else 'queued' end`,
    attempt: sql`case when ${jobs.status} = 'running' and not ${lastAttempt} then ${jobs.attempt} + 1 else ${jobs.attempt} end`,
    error: sql`case when ${jobs.status} = 'running' and ${lastAttempt} then jsonb_build_object(
      'code', 'max_attempts_exceeded',
      'message', 'the job lost its worker (lease expired) on all ' || ${jobs.maxAttempts} || ' attempts',
      'param', null) end`,
    finishedAt: sql`case when ${jobs.status} = 'cancelling' or ${lastAttempt} then now() end`,
    progress: null,
    leaseOwner: null,
    leaseExpiresAt: null,
  }).where(and(inArray(jobs.status, ['running', 'cancelling']), lt(jobs.leaseExpiresAt, sql`now()`)))
    .returning({ id: jobs.id, status: jobs.status, attempt: jobs.attempt })
  for (const job of reaped) {
    const message = job.status === 'queued'
      ? `Lease expired: the worker stopped heartbeating; queued again as attempt ${job.attempt}`
      : job.status === 'failed' ? 'Lease expired on the last attempt; the job failed' : 'Lease expired while cancelling; cancelled'
    const level = job.status === 'queued' ? 'warn' : job.status === 'failed' ? 'error' : 'info'
    await appendEvent(db, job.id, { level, type: 'message', message })
  }
  return reaped
}

// db.execute returns an array on postgres-js and {rows} on PGlite.
export function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[]
}

export async function lastEventOfType(db: Database, jobId: string, type: JobEvent['type']): Promise<JobEvent | undefined> {
  const [event] = await db.select().from(jobEvents).where(and(eq(jobEvents.jobId, jobId), eq(jobEvents.type, type)))
    .orderBy(desc(jobEvents.seq)).limit(1)
  return event
}
