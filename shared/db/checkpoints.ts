import { and, desc, eq, lt, or } from 'drizzle-orm'
import { newId } from '../ids.ts'
import type { Database } from './database.ts'
import { checkpoints } from './schema.ts'

export type Checkpoint = typeof checkpoints.$inferSelect

export async function insertCheckpoint(db: Database, checkpoint: Omit<typeof checkpoints.$inferInsert, 'id'>): Promise<Checkpoint> {
  const [row] = await db.insert(checkpoints).values({ id: newId('ckpt'), ...checkpoint }).returning()
  return row
}

export async function getCheckpoint(db: Database, projectId: string, id: string): Promise<Checkpoint | undefined> {
  const [row] = await db.select().from(checkpoints).where(and(eq(checkpoints.id, id), eq(checkpoints.projectId, projectId)))
  return row
}

/** A project's merged checkpoints (the ones chat can serve), newest first. */
export async function listMergedCheckpoints(db: Database, projectId: string, limit = 100): Promise<Checkpoint[]> {
  return db.select().from(checkpoints).where(and(eq(checkpoints.projectId, projectId), eq(checkpoints.kind, 'merged')))
    .orderBy(desc(checkpoints.createdAt), desc(checkpoints.id)).limit(limit)
}

// Latest step first; `after` is the id of the last checkpoint of the previous page.
export async function listCheckpoints(db: Database, jobId: string, afterId: string | undefined, limit: number) {
  let after: Checkpoint | undefined
  if (afterId) {
    [after] = await db.select().from(checkpoints).where(and(eq(checkpoints.id, afterId), eq(checkpoints.jobId, jobId)))
    if (!after) return 'invalid_cursor' as const
  }
  const rows = await db.select().from(checkpoints).where(and(
    eq(checkpoints.jobId, jobId),
    after ? or(lt(checkpoints.step, after.step), and(eq(checkpoints.step, after.step), lt(checkpoints.id, after.id))) : undefined,
  )).orderBy(desc(checkpoints.step), desc(checkpoints.id)).limit(limit + 1)
  return { data: rows.slice(0, limit), hasMore: rows.length > limit }
}
