// The `workers` table as the edge reads it: where live workers serve chat (a worker advertises it;
// a row is live while its inference heartbeat is younger than `staleMs`), and what the live job
// workers can load from the Hugging Face hub.
import { and, desc, gt, isNotNull, sql } from 'drizzle-orm'
import { hostname } from 'node:os'
import type { InferenceAdvert } from '../agents.ts'
import type { Database } from './database.ts'
import { type HubAccess, type JobKind, workers } from './schema.ts'

export async function advertiseInference(db: Database, id: string, advert: InferenceAdvert): Promise<void> {
  const values = { ...advert, inferenceSeenAt: sql`now()` }
  await db.insert(workers).values({ id, hostname: hostname(), kinds: [], ...values })
    .onConflictDoUpdate({ target: workers.id, set: values })
}

/** The worker stops serving chat: the edge stops routing to it at once, not after `staleMs`. */
export async function withdrawInference(db: Database, id: string): Promise<void> {
  await db.update(workers).set({ address: null, freeSlots: 0, inferenceSeenAt: null }).where(sql`${workers.id} = ${id}`)
}

export interface LiveWorker extends InferenceAdvert { id: string }

/** Workers whose inference heartbeat is younger than `staleMs`, the most free slots first. */
export async function liveInferenceWorkers(db: Database, staleMs: number): Promise<LiveWorker[]> {
  const rows = await db.select({
    id: workers.id, address: workers.address, models: workers.models, slots: workers.slots, freeSlots: workers.freeSlots, provider: workers.provider,
  }).from(workers)
    .where(and(isNotNull(workers.address), gt(workers.inferenceSeenAt, sql`now() - make_interval(secs => ${staleMs / 1000})`)))
    .orderBy(desc(workers.freeSlots), workers.id)
  return rows.map((r) => ({ ...r, address: r.address!, provider: r.provider ?? 'cpu' }))
}

/** The hub access of each job worker that takes `kind` jobs and whose heartbeat is younger than `staleMs` (null: not said). */
export async function liveJobWorkersHub(db: Database, kind: JobKind, staleMs: number): Promise<(HubAccess | null)[]> {
  const rows = await db.select({ hub: workers.hub }).from(workers)
    .where(and(sql`${workers.kinds} @> ${JSON.stringify([kind])}::jsonb`, gt(workers.lastSeenAt, sql`now() - make_interval(secs => ${staleMs / 1000})`)))
  return rows.map((r) => r.hub)
}
