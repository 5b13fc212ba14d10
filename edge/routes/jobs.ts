// What every job resource (training jobs, evaluations) answers the same way: list, get, cancel
// and the event log. Each resource adds its own create route and result routes.
import type { Context } from 'hono'
import { Hono } from 'hono'
import { z } from 'zod'
import type { Database } from '../../shared/db/database.ts'
import { type Job, type JobEvent, cancelJob, getJob, listEvents, listJobs } from '../../shared/db/jobs.ts'
import type { JobKind } from '../../shared/db/schema.ts'
import type { AuthEnv } from '../auth.ts'
import { notFound } from '../errors.ts'
import { ApiError } from '../../shared/errors.ts'
import { readQuery } from '../request.ts'
import { idParam, list, pageQuery, unixSeconds } from './common.ts'

export interface JobResource {
  // as errors name it: 'fine-tuning job', 'evaluation'
  noun: string
  kinds: JobKind[]
  // the `object` of its events and the prefix of their ids: 'fine_tuning.job.event', 'ftevent'
  eventObject: string
  eventIdPrefix: string
  toObject(job: Job): Record<string, unknown>
}

/** What a running job is doing now, as its worker last reported; null when it is not running. */
export function progressObject(job: Job) {
  const p = job.progress
  return p ? { phase: p.phase, step: p.step, steps: p.steps, done: p.done, total: p.total, phase_started_at: unixSeconds(new Date(p.since)) } : null
}

// The job named by the `:id` parameter, if it is one of this resource's in the caller's project.
export async function jobParam(c: Context<AuthEnv>, db: Database, resource: JobResource): Promise<Job> {
  const id = idParam(c, resource.noun)
  const job = await getJob(db, c.get('principal').projectId, id)
  if (!job || !resource.kinds.includes(job.kind)) throw notFound(resource.noun, id)
  return job
}

// `after` for events: a seq number or an event id as returned by this API (15 digits: a safe
// integer, and within the bigint column, which a longer number would overflow)
export const eventsQueryOf = (resource: Pick<JobResource, 'eventIdPrefix'>) => z.strictObject({
  after: z.string().regex(new RegExp(`^(${resource.eventIdPrefix}-.+-)?\\d{1,15}$`), 'must be an event id or a sequence number').optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
})

export function jobRoutes(db: Database, resource: JobResource) {
  const eventObject = (event: JobEvent) => ({
    id: `${resource.eventIdPrefix}-${event.jobId}-${event.seq}`,
    object: resource.eventObject,
    seq: event.seq,
    created_at: unixSeconds(event.createdAt),
    level: event.level,
    type: event.type,
    message: event.message,
    data: event.data ?? null,
  })
  const eventsQuery = eventsQueryOf(resource)

  return new Hono<AuthEnv>()
    .get('/', async (c) => {
      const query = readQuery(c, pageQuery)
      const { projectId } = c.get('principal')
      const after = query.after ? await getJob(db, projectId, query.after) : undefined
      if (query.after && (!after || !resource.kinds.includes(after.kind))) {
        throw new ApiError(400, 'invalid_cursor', `No ${resource.noun} '${query.after}' to page after`, 'after')
      }
      const page = await listJobs(db, { projectId, kinds: resource.kinds, after, limit: query.limit })
      return c.json(list(page.data.map(resource.toObject), page.hasMore))
    })
    .get('/:id', async (c) => c.json(resource.toObject(await jobParam(c, db, resource))))
    .post('/:id/cancel', async (c) => {
      const outcome = await cancelJob(db, await jobParam(c, db, resource))
      if ('notCancellable' in outcome) {
        throw new ApiError(409, 'job_not_cancellable', `The ${resource.noun} has already ${outcome.notCancellable.status}; it cannot be cancelled`)
      }
      return c.json(resource.toObject(outcome.job))
    })
    .get('/:id/events', async (c) => {
      const job = await jobParam(c, db, resource)
      const query = readQuery(c, eventsQuery)
      const afterSeq = query.after ? Number(/(\d+)$/.exec(query.after)![1]) : 0
      const page = await listEvents(db, job.id, afterSeq, query.limit)
      return c.json(list(page.data.map(eventObject), page.hasMore))
    })
}
