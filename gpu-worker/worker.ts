// The job worker: leases jobs of the kinds it has runners for, keeps each lease alive with
// heartbeats, passes cancellation and lease loss to the runner as an AbortSignal, and records
// the outcome. It runs as its own process (gpu-worker/main.ts) or inside `npm start`.
import { faultMessage, serviceFault } from '../shared/faults.ts'
import { describeFault } from '../shared/log.ts'
import { JobFailure } from '../shared/errors.ts'
import { sql } from 'drizzle-orm'
import { hostname } from 'node:os'
import type { BlobStore } from '../shared/blob/store.ts'
import type { Database } from '../shared/db/database.ts'
import {
  type Job, type NewEvent, appendEvent, finishJob, heartbeat, leaseJob, reapExpiredLeases, setJobProgress,
} from '../shared/db/jobs.ts'
import { type HubAccess, type JobKind, type JobProgress, workers } from '../shared/db/schema.ts'
import { newId } from '../shared/ids.ts'

export interface JobContext {
  job: Job
  db: Database
  blobs: BlobStore
  // aborted when the job is cancelled or this worker loses the lease; its reason says which
  signal: AbortSignal
  event(event: NewEvent): Promise<void>
  /** What the job is doing now (shown on the job while it runs); as often as it changes, written at most once a second. */
  progress(report: ProgressReport): void
}

export type ProgressReport = Pick<JobProgress, 'phase'> & Partial<Omit<JobProgress, 'phase' | 'since'>>

const PROGRESS_WRITE_MS = 1000

export type JobRunner = (context: JobContext) => Promise<{ result?: Record<string, unknown> }>

export class CancelledError extends Error {}
export class LeaseLostError extends Error {}

export interface WorkerOptions {
  db: Database
  blobs: BlobStore
  runners: Partial<Record<JobKind, JobRunner>>
  leaseMs: number
  heartbeatMs: number
  pollMs: number
  id?: string
  log?: (line: string) => void
  /** what it can load from the Hugging Face hub, sent with each heartbeat (hub-access.ts); unset: not said */
  hubAccess?: () => HubAccess
}

export class JobWorker {
  readonly id: string
  private running = false
  private wakeUp?: () => void
  private loop?: Promise<void>

  constructor(private readonly options: WorkerOptions) {
    this.id = options.id ?? newId(`worker-${hostname()}`)
  }

  get kinds(): JobKind[] {
    return Object.keys(this.options.runners) as JobKind[]
  }

  async start(): Promise<void> {
    await this.register()
    this.running = true
    this.loop = this.pollLoop()
  }

  // Stop leasing; a job in progress is finished first.
  async stop(): Promise<void> {
    this.running = false
    this.wakeUp?.()
    await this.loop
  }

  wake(): void {
    this.wakeUp?.()
  }

  private async register() {
    const hub = this.options.hubAccess?.() ?? null
    await this.options.db.insert(workers).values({ id: this.id, hostname: hostname(), kinds: this.kinds, hub })
      .onConflictDoUpdate({ target: workers.id, set: { lastSeenAt: sql`now()`, kinds: this.kinds, hub } })
  }

  private async pollLoop() {
    let lastSeen = Date.now()
    while (this.running) {
      try {
        if (Date.now() - lastSeen > this.options.heartbeatMs) {
          await this.register()
          lastSeen = Date.now()
        }
        if (await this.runOne()) continue
      } catch (error) {
        this.log(`worker ${this.id}: ${describeFault(error)}`)
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.options.pollMs)
        this.wakeUp = () => { clearTimeout(timer); resolve() }
      })
    }
  }

  // Lease and run one job; false when the queue had nothing for this worker.
  async runOne(): Promise<boolean> {
    const { db, leaseMs } = this.options
    await reapExpiredLeases(db)
    const job = await leaseJob(db, { workerId: this.id, kinds: this.kinds, leaseMs })
    if (!job) return false
    await this.run(job)
    return true
  }

  /**
   * The runner's reports, latest first: a new phase is written at once, counts within a phase at
   * most once a second, one write at a time; a failed write is only logged (the next one catches up).
   */
  private progressWriter(jobId: string) {
    let latest: JobProgress | undefined
    let written: JobProgress | undefined
    let lastWriteAt = 0
    let writing: Promise<void> = Promise.resolve()
    let timer: ReturnType<typeof setTimeout> | undefined
    const write = () => {
      timer = undefined
      writing = writing.then(async () => {
        if (!latest || latest === written) return
        const progress = latest
        lastWriteAt = Date.now()
        await setJobProgress(this.options.db, { jobId, workerId: this.id, progress })
          .then(() => { written = progress }, (error: unknown) => this.log(`worker ${this.id}: progress of ${jobId} not written: ${describeFault(error)}`))
      })
    }
    return {
      report: (report: ProgressReport) => {
        const since = latest?.phase === report.phase && latest.step === (report.step ?? null) ? latest.since : new Date().toISOString()
        const newPhase = since !== latest?.since
        latest = { step: null, steps: null, done: null, total: null, ...report, since }
        if (newPhase || Date.now() - lastWriteAt >= PROGRESS_WRITE_MS) { clearTimeout(timer); write() }
        else timer ??= setTimeout(write, PROGRESS_WRITE_MS - (Date.now() - lastWriteAt))
      },
      // a write still on its way after the job has finished matches no row (only the lease holder writes)
      stop: () => { clearTimeout(timer); latest = written },
    }
  }

  private async run(job: Job) {
    const { db, blobs, leaseMs, heartbeatMs } = this.options
    const abort = new AbortController()
    const beat = setInterval(async () => {
      try {
        const outcome = await heartbeat(db, { jobId: job.id, workerId: this.id, leaseMs })
        if (outcome === 'cancelling') abort.abort(new CancelledError('the job was cancelled'))
        if (outcome === 'lost') abort.abort(new LeaseLostError('this worker lost the lease'))
      } catch (error) {
        // a missed heartbeat is not fatal: the lease has room for several
        this.log(`worker ${this.id}: heartbeat for ${job.id} failed: ${describeFault(error)}`)
      }
    }, heartbeatMs)
    const event = async (e: NewEvent) => {
      if (!(abort.signal.reason instanceof LeaseLostError)) await appendEvent(db, job.id, e)
    }
    const progress = this.progressWriter(job.id)
    try {
      const { result } = await this.options.runners[job.kind]!({ job, db, blobs, signal: abort.signal, event, progress: progress.report })
      if (await finishJob(db, { jobId: job.id, workerId: this.id, status: 'succeeded', result })) {
        await appendEvent(db, job.id, { level: 'info', type: 'message', message: 'Job succeeded' })
      }
    } catch (error) {
      const reason = abort.signal.reason
      const fault = serviceFault(error)
      if (reason instanceof LeaseLostError) {
        this.log(`worker ${this.id}: lost the lease on ${job.id}; dropped its work`)
      } else if (reason instanceof CancelledError) {
        if (await finishJob(db, { jobId: job.id, workerId: this.id, status: 'cancelled' })) {
          await appendEvent(db, job.id, { level: 'info', type: 'message', message: 'Job cancelled' })
        }
      } else if (fault) {
        // not the job's fault: its lease runs out and the reaper queues it as its next attempt
        this.log(`worker ${this.id}: ${job.id} stopped by a fault of the ${fault.service}: ${describeFault(error)}`)
        await appendEvent(db, job.id, { level: 'warn', type: 'message', message: `${faultMessage(fault)}: this attempt stopped, and the job goes back to the queue` }).catch(() => {})
      } else {
        const message = (error as Error).message || String(error)
        const code = error instanceof JobFailure ? error.code : 'job_failed'
        if (await finishJob(db, { jobId: job.id, workerId: this.id, status: 'failed', error: { code, message, param: null } })) {
          await appendEvent(db, job.id, { level: 'error', type: 'message', message: `Job failed: ${message}` })
        }
      }
    } finally {
      clearInterval(beat)
      progress.stop()
    }
  }

  private log(line: string) {
    (this.options.log ?? console.error)(line)
  }
}

// A sleep that ends early, with the signal's reason thrown, when the job is cancelled or lost.
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve() }, ms)
    const onAbort = () => { clearTimeout(timer); reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
