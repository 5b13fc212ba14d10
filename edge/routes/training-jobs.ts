// The training job API, modelled on OpenAI's fine_tuning.jobs (objects, list envelope, cursors),
// plus each step's episodes (trajectories) as the train runner stored them in the blob store.
import type { Context } from 'hono'
import { Hono } from 'hono'
import { z } from 'zod'
import { type BlobStore, readAll } from '../../shared/blob/store.ts'
import type { Database } from '../../shared/db/database.ts'
import { getFile } from '../../shared/db/files.ts'
import { namedDataset } from '../../datasets/named.ts'
import { getCheckpoint, listCheckpoints } from '../../shared/db/checkpoints.ts'
import { type Job, appendEvent, createJob, setJobStatus } from '../../shared/db/jobs.ts'
import type { JobKind } from '../../shared/db/schema.ts'
import { liveJobWorkersHub } from '../../shared/db/workers.ts'
import { createTrainingJobBody, trajectoriesPrefix, trajectoryKey, trajectoryStep } from '../../shared/job-config.ts'
import type { AuthEnv } from '../auth.ts'
import { checkEnvironmentUrl } from '../../shared/outbound.ts'
import { parseModelReference } from '../../shared/models.ts'
import { notFound } from '../errors.ts'
import { ApiError } from '../../shared/errors.ts'
import { estimateTraining } from '../estimate.ts'
import { checkAll, readJson, readQuery } from '../request.ts'
import { list, pageQuery, unixSeconds } from './common.ts'
import { toCheckpointObject } from './checkpoints.ts'
import { type JobResource, jobParam, jobRoutes, progressObject } from './jobs.ts'

export interface WorkerDispatcher {
  // a job was queued: wake a worker now instead of at its next poll
  jobQueued(job: Job): void
}

export interface TrainingRouteOptions {
  maxAttempts: number
  /** whether environment.base_url may point at this machine (tests, a local vLLM); never in a shared deployment */
  allowLoopbackEnvironment: boolean
  /** the operator's folders that a model folder must be inside (shared/models.ts) */
  modelFolders: string[]
  /** whether the server has an environment LLM of its own (PROMPT_R1_ENV_*) for jobs that name none */
  serverEnvironment: boolean
  /** a job worker whose heartbeat is older than this is not counted as one that could load a model */
  workerStaleMs: number
}

export function toJobObject(job: Job) {
  const config = job.config as z.infer<typeof createTrainingJobBody>
  // the environment's key is stored for the worker but never shown again
  const { api_key: apiKey, ...environment } = config.environment ?? {}
  return {
    id: job.id,
    object: 'fine_tuning.job',
    kind: job.kind,
    model: config.model ?? null,
    status: job.status,
    progress: progressObject(job),
    created_at: unixSeconds(job.createdAt),
    started_at: unixSeconds(job.startedAt),
    finished_at: unixSeconds(job.finishedAt),
    training_file: config.training_file ?? null,
    validation_file: config.validation_file ?? null,
    method: config.method ?? null,
    seed: config.seed ?? null,
    environment: config.environment ? { ...environment, api_key_set: apiKey !== undefined } : null,
    suffix: config.suffix ?? null,
    metadata: config.metadata ?? null,
    error: job.error ?? null,
    // the merged model's name for chat; jobs from before names had only the checkpoint's id
    fine_tuned_model: (job.result?.fine_tuned_model ?? job.result?.merged_checkpoint_id ?? null) as string | null,
    result: job.result ?? null,
    attempt: job.attempt,
    max_attempts: job.maxAttempts,
    organization_id: job.projectId,
  }
}

export const trajectoriesQuery = z.strictObject({ step: z.coerce.number().int().min(1).max(1_000_000) })

export const TRAINING_JOBS: JobResource = {
  noun: 'fine-tuning job',
  kinds: ['train', 'noop'],
  eventObject: 'fine_tuning.job.event',
  eventIdPrefix: 'ftevent',
  toObject: toJobObject,
}

// A model a job may name (shared/models.ts); a checkpoint id must be one of the caller's project,
// and a hub model one that some live worker taking the `loadedBy` jobs can load: it reaches the hub
// or has the model in its cache (undefined: the job loads no model). With no live worker the job
// waits for one, which may well reach it.
export async function checkModelReference(
  db: Database, projectId: string, raw: string, param: string, loadedBy: JobKind | undefined, options: Pick<TrainingRouteOptions, 'modelFolders' | 'workerStaleMs'>,
) {
  const reference = parseModelReference(raw, options.modelFolders, param)
  if (reference.kind === 'checkpoint' && !(await getCheckpoint(db, projectId, reference.id))) throw notFound('checkpoint', reference.id, param)
  if (reference.kind !== 'hub' || loadedBy === undefined) return
  const live = await liveJobWorkersHub(db, loadedBy, options.workerStaleMs)
  if (live.length > 0 && live.every((hub) => hub !== null && hub.reachable === false && !hub.cached.includes(reference.id))) {
    const workers = live.length === 1 ? 'the one live worker that runs' : `none of the ${live.length} live workers that run`
    throw new ApiError(400, 'model_unreachable', `No worker can load '${raw}': ${workers} ${loadedBy} jobs reaches the Hugging Face hub or has ${reference.id} in its cache. `
      + "Put the model's folder (config.json, safetensors, tokenizer files) in one of the server's model folders (PROMPT_R1_MODEL_FOLDERS) and name that folder, or let a worker reach the hub (HF_ENDPOINT)", param)
  }
}

export function trainingJobRoutes(db: Database, blobs: BlobStore, dispatcher: WorkerDispatcher, options: TrainingRouteOptions) {
  const { maxAttempts, allowLoopbackEnvironment, serverEnvironment } = options
  // A job's body with every problem known at submit time found, for creating it or estimating it.
  const checkedBody = async (c: Context, projectId: string) => {
    const body = await readJson(c, createTrainingJobBody)
    const referenced = [['training_file', body.training_file], ['validation_file', body.validation_file]] as const
    await checkAll([
      () => { if (body.environment?.base_url) body.environment.base_url = checkEnvironmentUrl(body.environment.base_url, allowLoopbackEnvironment) },
      // a published set's name (the worker reads it from its datasets folders) or a built-in set's
      ...referenced.map(([param, fileId]) => async () => {
        if (fileId && !namedDataset(fileId) && !(await getFile(db, projectId, fileId))) throw notFound('file', fileId, param)
      }),
      async () => { if (body.model) await checkModelReference(db, projectId, body.model, 'model', body.method.type === 'grpo' ? 'train' : undefined, options) },
      () => {
        // known now rather than when a worker takes the job
        if (body.method.type === 'grpo' && !body.environment && !serverEnvironment) {
          throw new ApiError(400, 'missing_required_parameter', "Missing required parameter: 'environment' (this server has no environment LLM of its own: give environment.base_url and environment.model, or set PROMPT_R1_ENV_BASE_URL and PROMPT_R1_ENV_MODEL)", 'environment')
        }
      },
    ])
    return body
  }

  return new Hono<AuthEnv>()
    // what a job would cost before it is launched: the same body and checks, nothing created
    .post('/estimate', async (c) => {
      const { projectId } = c.get('principal')
      return c.json(await estimateTraining(db, projectId, await checkedBody(c, projectId)))
    })
    .post('/', async (c) => {
      const { projectId } = c.get('principal')
      const body = await checkedBody(c, projectId)
      const hasFiles = [body.training_file, body.validation_file].some(Boolean)
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
    // the steps whose episodes are stored, in order; a job's steps are at most its configured steps
    .get('/:id/trajectories/steps', async (c) => {
      const job = await jobParam(c, db, TRAINING_JOBS)
      const steps = (await blobs.list(trajectoriesPrefix(job.id))).map(trajectoryStep).filter((s) => s !== undefined).sort((a, b) => a - b)
      return c.json(list(steps.map((step) => ({ object: 'fine_tuning.job.trajectory_step', step })), false))
    })
    // every episode of one step, in the order the step played them (groups of group_size)
    .get('/:id/trajectories', async (c) => {
      const job = await jobParam(c, db, TRAINING_JOBS)
      const { step } = readQuery(c, trajectoriesQuery)
      const body = await blobs.get(trajectoryKey(job.id, step))
      if (!body) throw new ApiError(404, 'not_found', `No trajectories stored for step ${step} of job '${job.id}' (see /trajectories/steps)`, 'step')
      const lines = new TextDecoder().decode(await readAll(body)).split('\n').filter(Boolean)
      return c.json(list(lines.map((line) => ({ object: 'fine_tuning.job.trajectory', ...JSON.parse(line) })), false))
    })
    .route('/', jobRoutes(db, TRAINING_JOBS))
}
