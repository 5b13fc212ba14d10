// A worker process dies mid-job (SIGKILL: no clean-up, no more heartbeats). After its lease
// expires another worker takes the job as attempt 2 and resumes after the last step reported.
import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { runNoopJob } from '../../gpu-worker/runners/noop.ts'
import { JobWorker } from '../../gpu-worker/worker.ts'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import { createJob, getJob, lastEventOfType, listEvents } from '../../shared/db/jobs.ts'
import { openPostgres } from '../../shared/db/postgres.ts'
import { describePostgres, freshPostgresUrl } from '../helpers/databases.ts'
import { until } from '../helpers/wait.ts'

describePostgres('worker crash', () => {
  it('a killed worker\'s job is taken over after its lease expires and resumes where it stopped', async () => {
    const url = await freshPostgresUrl()
    const { db, close } = openPostgres(url, { maxConnections: 2 })
    const dataDir = mkdtempSync(join(tmpdir(), 'crash-'))
    const job = await createJob(db, {
      projectId: 'p', kind: 'noop', maxAttempts: 3,
      config: { method: { type: 'noop', noop: { steps: 12, step_ms: 150 } } },
    })

    const doomed = spawn(process.execPath, ['--import', 'tsx', 'gpu-worker/main.ts'], {
      env: {
        ...process.env, DATABASE_URL: url, PROMPT_R1_DATA_DIR: dataDir,
        PROMPT_R1_LEASE_SECONDS: '2', PROMPT_R1_HEARTBEAT_SECONDS: '1', PROMPT_R1_POLL_MS: '100',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    doomed.stdout.on('data', (d) => { output += d })
    doomed.stderr.on('data', (d) => { output += d })
    const reached = await until(async () => {
      const last = await lastEventOfType(db, job.id, 'metrics')
      return last && Number(last.data?.step) >= 3 ? Number(last.data?.step) : undefined
    }, { what: 'the first worker to report step 3' }).catch((error) => { throw new Error(`${error.message}; worker output:\n${output}`) })
    doomed.kill('SIGKILL')
    const killedAt = Date.now()
    const firstOwner = (await getJob(db, 'p', job.id))!.leaseOwner

    const rescuer = new JobWorker({
      db, blobs: new LocalBlobStore(dataDir), runners: { noop: runNoopJob }, id: 'rescuer', leaseMs: 2_000, heartbeatMs: 500, pollMs: 100,
    })
    await rescuer.start()
    const finished = await until(async () => {
      const current = await getJob(db, 'p', job.id)
      return current?.status === 'succeeded' || current?.status === 'failed' ? current : undefined
    }, { what: 'the job to finish' })
    await rescuer.stop()

    expect(finished).toMatchObject({ status: 'succeeded', attempt: 2, result: { steps_completed: 12 } })
    expect(firstOwner).toMatch(/^worker-/)
    const events = (await listEvents(db, job.id, 0, 1000)).data
    const messages = events.map((e) => e.message)
    // taken over only once the lease had run out: 2 s after the last heartbeat, which was at most 1 s before the kill
    const takenOver = events.find((e) => e.message === 'Worker rescuer started attempt 2 of 3')!
    expect(takenOver.createdAt.getTime()).toBeGreaterThanOrEqual(killedAt + 900)
    const requeued = messages.indexOf('Lease expired: the worker stopped heartbeating; queued again as attempt 2')
    expect(requeued).toBeGreaterThan(0)
    expect(messages[requeued + 1]).toBe('Worker rescuer started attempt 2 of 3')
    const resumedAt = messages.findIndex((m) => /^Resuming after step \d+$/.test(m))
    const resumedStep = Number(/(\d+)$/.exec(messages[resumedAt])![1])
    expect(resumedStep).toBeGreaterThanOrEqual(reached)
    // steps after the resume point are reported once each, up to the last
    const stepsAfter = events.slice(resumedAt).filter((e) => e.type === 'metrics').map((e) => Number(e.data?.step))
    expect(stepsAfter).toEqual(Array.from({ length: 12 - resumedStep }, (_, i) => resumedStep + 1 + i))
    await close()
  })
})
