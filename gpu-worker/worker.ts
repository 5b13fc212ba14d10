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
  type Job, type NewEvent, appendEvent, finishJob, heartbeat, leaseJob, reapExpiredLeases,
} from '../shared/db/jobs.ts'
import { type JobKind, workers } from '../shared/db/schema.ts'
import { newId } from '../shared/ids.ts'

export interface JobContext {
  job: Job
  db: Database
  blobs: BlobStore
  // aborted when the job is cancelled or this worker loses the lease; its reason says which
  signal: AbortSignal
  event(event: NewEvent): Promise<void>
}

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
    await this.options.db.insert(workers).values({ id: this.id, hostname: hostname(), kinds: this.kinds })
      .onConflictDoUpdate({ target: workers.id, set: { lastSeenAt: sql`now()`, kinds: this.kinds } })
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
    try {
      const { result } = await this.options.runners[job.kind]!({ job, db, blobs, signal: abort.signal, event })
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
