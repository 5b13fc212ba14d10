// The training job API, modelled on OpenAI's fine_tuning.jobs (objects, list envelope, cursors).
import { Hono } from 'hono'
import { z } from 'zod'
import type { Database } from '../../shared/db/database.ts'
import { getFile } from '../../shared/db/files.ts'
import { listCheckpoints, type Checkpoint } from '../../shared/db/checkpoints.ts'
import { type Job, appendEvent, createJob, setJobStatus } from '../../shared/db/jobs.ts'
import { createTrainingJobBody } from '../../shared/job-config.ts'
import type { AuthEnv } from '../auth.ts'
import { ApiError, notFound } from '../errors.ts'
import { readJson, readQuery } from '../request.ts'
import { list, pageQuery, unixSeconds } from './common.ts'
import { type JobResource, jobParam, jobRoutes } from './jobs.ts'

export interface WorkerDispatcher {
  // a job was queued: wake a worker now instead of at its next poll
  jobQueued(job: Job): void
}

export function toJobObject(job: Job) {
  const config = job.config as z.infer<typeof createTrainingJobBody>
  return {
    id: job.id,
    object: 'fine_tuning.job',
    kind: job.kind,
    model: config.model ?? null,
    status: job.status,
    created_at: unixSeconds(job.createdAt),
    started_at: unixSeconds(job.startedAt),
    finished_at: unixSeconds(job.finishedAt),
    training_file: config.training_file ?? null,
    validation_file: config.validation_file ?? null,
    method: config.method,
    seed: config.seed ?? null,
    suffix: config.suffix ?? null,
    metadata: config.metadata ?? null,
    error: job.error ?? null,
    fine_tuned_model: (job.result?.merged_checkpoint_id as string | undefined) ?? null,
    result: job.result ?? null,
    attempt: job.attempt,
    max_attempts: job.maxAttempts,
    organization_id: job.projectId,
  }
}

function toCheckpointObject(checkpoint: Checkpoint) {
  return {
    id: checkpoint.id,
    object: 'fine_tuning.job.checkpoint',
    fine_tuning_job_id: checkpoint.jobId,
    step_number: checkpoint.step,
    kind: checkpoint.kind,
    formats: Object.keys(checkpoint.files),
    metrics: checkpoint.metrics ?? {},
    created_at: unixSeconds(checkpoint.createdAt),
  }
}

const TRAINING_JOBS: JobResource = {
  noun: 'fine-tuning job',
  kinds: ['train', 'noop'],
  eventObject: 'fine_tuning.job.event',
  eventIdPrefix: 'ftevent',
  toObject: toJobObject,
}

export function trainingJobRoutes(db: Database, dispatcher: WorkerDispatcher, maxAttempts: number) {
  return new Hono<AuthEnv>()
    .post('/', async (c) => {
      const body = await readJson(c, createTrainingJobBody)
      const { projectId } = c.get('principal')
      const referenced = [['training_file', body.training_file], ['validation_file', body.validation_file]] as const
      for (const [param, fileId] of referenced) {
        if (fileId && !(await getFile(db, projectId, fileId))) throw notFound('file', fileId, param)
      }
      const hasFiles = referenced.some(([, fileId]) => fileId)
      let job = await createJob(db, {
        projectId, kind: body.method.type === 'noop' ? 'noop' : 'train', config: body, maxAttempts,
        status: hasFiles ? 'validating_files' : 'queued',
      })
      if (hasFiles) {
        // uploads are validated row by row when they arrive, so here it only remains to record it
        await appendEvent(db, job.id, { level: 'info', type: 'message', message: 'Files validated' })
        job = (await setJobStatus(db, job.id, 'validating_files', 'queued')) ?? job
      }
      if (job.status === 'queued') dispatcher.jobQueued(job)
      return c.json(toJobObject(job), 201)
    })
    .get('/:id/checkpoints', async (c) => {
      const job = await jobParam(c, db, TRAINING_JOBS)
      const query = readQuery(c, pageQuery)
      const page = await listCheckpoints(db, job.id, query.after, query.limit)
      if (page === 'invalid_cursor') throw new ApiError(400, 'invalid_cursor', `No checkpoint '${query.after}' to page after`, 'after')
      return c.json(list(page.data.map(toCheckpointObject), page.hasMore))
    })
    .route('/', jobRoutes(db, TRAINING_JOBS))
}
