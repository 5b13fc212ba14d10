// The `noop` job: no model work, only the job life cycle. It emits a metrics event per step and,
// on a later attempt, resumes after the last step it reported, as real runners resume from their
// last checkpoint.
import { lastEventOfType } from '../../shared/db/jobs.ts'
import { noopMethod } from '../../shared/job-config.ts'
import { type JobRunner, sleep } from '../worker.ts'

export const runNoopJob: JobRunner = async ({ job, db, signal, event, progress }) => {
  const method = job.config.method as { noop?: unknown }
  const { steps, step_ms: stepMs, fail_at_step: failAtStep, cpu_ms: cpuMs } = noopMethod.parse(method.noop ?? {})
  let step = 0
  if (job.attempt > 1) {
    const last = await lastEventOfType(db, job.id, 'metrics')
    step = last ? Number(last.data?.step) : 0
    await event({ level: 'info', type: 'message', message: `Resuming after step ${step}` })
  }
  while (step < steps) {
    progress({ phase: 'steps', done: step, total: steps })
    if (failAtStep === step) throw new Error(`noop job told to fail at step ${step}`)
    await sleep(stepMs, signal)
    for (const until = performance.now() + cpuMs; performance.now() < until;) { /* as model work would */ }
    step += 1
    await event({ level: 'info', type: 'metrics', message: `step ${step}/${steps}`, data: { step, progress: step / steps } })
  }
  return { result: { steps_completed: steps } }
}
