// The evaluation API: eval jobs on the same queue and worker machinery as training, in the same
// object/list envelope. Results come as the summary (JSON), the paper-style table (markdown) and
// the scored rows (JSONL, CSV), read from the rows the runner stores batch by batch, so they can
// be fetched, partial, while the job runs.
import { Hono } from 'hono'
import { z } from 'zod'
import type { BlobStore } from '../../shared/blob/store.ts'
import { getCheckpoint } from '../../shared/db/checkpoints.ts'
import type { Database } from '../../shared/db/database.ts'
import { getFile } from '../../shared/db/files.ts'
import { type Job, createJob } from '../../shared/db/jobs.ts'
import { markdownTable, rowsToCsv, rowsToJsonl } from '../../shared/eval/report.ts'
import { describeDatasets, sortRows } from '../../shared/eval/rows.ts'
import { BlobRowStore, evalRowsPrefix } from '../../shared/eval/store.ts'
import { type EvalSummary, summarize } from '../../shared/eval/summary.ts'
import { type EvaluationConfig, createEvaluationBody } from '../../shared/job-config.ts'
import type { AuthEnv } from '../auth.ts'
import { checkEnvironmentUrl } from '../../shared/outbound.ts'
import { notFound } from '../errors.ts'
import { ApiError } from '../../shared/errors.ts'
import { checkAll, readJson, readQuery } from '../request.ts'
import { unixSeconds } from './common.ts'
import { type JobResource, jobParam, jobRoutes, progressObject } from './jobs.ts'
import { type TrainingRouteOptions, type WorkerDispatcher, checkModelReference } from './training-jobs.ts'

export type EvaluationRouteOptions = Pick<TrainingRouteOptions, 'maxAttempts' | 'allowLoopbackEnvironment' | 'modelFolders' | 'workerStaleMs'>

export function toEvaluationObject(job: Job) {
  const config = job.config as EvaluationConfig
  // the environment's key is stored for the worker but never shown again
  const { api_key: apiKey, ...environment } = config.environment
  return {
    id: job.id,
    object: 'evaluation',
    status: job.status,
    progress: progressObject(job),
    created_at: unixSeconds(job.createdAt),
    started_at: unixSeconds(job.startedAt),
    finished_at: unixSeconds(job.finishedAt),
    datasets: config.datasets,
    modes: config.modes,
    environment: { ...environment, api_key_set: apiKey !== undefined },
    agent: config.agent ?? null,
    max_rows: config.max_rows ?? null,
    batch_size: config.batch_size,
    bootstrap_resamples: config.bootstrap_resamples,
    metadata: config.metadata ?? null,
    error: job.error ?? null,
    result: job.result ?? null,
    attempt: job.attempt,
    max_attempts: job.maxAttempts,
    organization_id: job.projectId,
  }
}

export const resultsQuery = z.strictObject({ format: z.enum(['json', 'jsonl', 'csv', 'markdown']).default('json') })

export const EVALUATIONS: JobResource = {
  noun: 'evaluation',
  kinds: ['eval'],
  eventObject: 'evaluation.event',
  eventIdPrefix: 'evalevent',
  toObject: toEvaluationObject,
}

export function evaluationRoutes(db: Database, blobs: BlobStore, dispatcher: WorkerDispatcher, options: EvaluationRouteOptions) {
  return new Hono<AuthEnv>()
    .post('/', async (c) => {
      const body = await readJson(c, createEvaluationBody)
      const { projectId } = c.get('principal')
      await checkAll([
        () => { if (body.environment.base_url) body.environment.base_url = checkEnvironmentUrl(body.environment.base_url, options.allowLoopbackEnvironment) },
        ...body.datasets.map((dataset, i) => async () => {
          if (dataset.path !== undefined) {
            throw new ApiError(400, 'invalid_parameter', `Invalid 'datasets.${i}.path': local paths are for the CLI; upload the file (POST /v1/files) and give its file_id`, `datasets.${i}.path`)
          }
          if (dataset.file_id !== undefined && !(await getFile(db, projectId, dataset.file_id))) {
            throw notFound('file', dataset.file_id, `datasets.${i}.file_id`)
          }
        }),
        async () => { if (body.agent?.model !== undefined) await checkModelReference(db, projectId, body.agent.model, 'agent.model', 'eval', options) },
        async () => {
          if (body.agent?.checkpoint !== undefined && !(await getCheckpoint(db, projectId, body.agent.checkpoint))) {
            throw notFound('checkpoint', body.agent.checkpoint, 'agent.checkpoint')
          }
        },
      ])
      const job = await createJob(db, { projectId, kind: 'eval', config: body, maxAttempts: options.maxAttempts })
      dispatcher.jobQueued(job)
      return c.json(toEvaluationObject(job), 201)
    })
    .get('/:id/results', async (c) => {
      const job = await jobParam(c, db, EVALUATIONS)
      const { format } = readQuery(c, resultsQuery)
      const config = job.config as EvaluationConfig
      const datasets = describeDatasets(config)
      const rows = sortRows(await new BlobRowStore(blobs, evalRowsPrefix(job.id)).load(), datasets)
      const download = (body: string, type: string, extension: string) => new Response(body, {
        headers: { 'content-type': type, 'content-disposition': `attachment; filename="${job.id}.${extension}"` },
      })
      if (format === 'jsonl') return download(rowsToJsonl(rows), 'application/x-ndjson; charset=utf-8', 'jsonl')
      if (format === 'csv') return download(rowsToCsv(rows), 'text/csv; charset=utf-8', 'csv')
      // the finished job's summary is the one recorded; while it runs, one is computed from the rows so far
      const summary = (job.result?.summary as EvalSummary | undefined) ?? summarize({
        rows, datasets, modes: config.modes, resamples: config.bootstrap_resamples,
      })
      const table = markdownTable(summary)
      if (format === 'markdown') return c.body(table, 200, { 'content-type': 'text/markdown; charset=utf-8' })
      return c.json({
        object: 'evaluation.results', evaluation_id: job.id, status: job.status, partial: job.result == null,
        summary, table_markdown: table,
      })
    })
    .route('/', jobRoutes(db, EVALUATIONS))
}
