import { and, desc, eq, lt, or } from 'drizzle-orm'
import type { AgentModel } from '../agents.ts'
import { newId } from '../ids.ts'
import type { Database } from './database.ts'
import { checkpoints } from './schema.ts'

export type Checkpoint = typeof checkpoints.$inferSelect

/**
 * A fine-tuned model's name in OpenAI's form, ft:<base>:<project>[:<suffix>]:<checkpoint id>: the
 * base model's last path segment (`hf:Qwen/Qwen3-0.6B` gives `Qwen3-0.6B`) and the job's suffix.
 */
export function fineTunedModelName(base: string, projectId: string, suffix: string | undefined, checkpointId: string): string {
  const segment = (text: string) => text.replace(/[^A-Za-z0-9._-]+/g, '-')
  const baseName = segment(base.replace(/^hf:/, '').replace(/\/+$/, '').split('/').pop() || 'model')
  return ['ft', baseName, segment(projectId), ...(suffix ? [suffix] : []), checkpointId].join(':')
}

/** The checkpoint id a chat's model names: the id itself, or the last part of a fine-tuned name. */
export function checkpointIdOf(model: string): string | undefined {
  return /^(?:ft:.+:)?(ckpt-[A-Za-z0-9]+)$/.exec(model)?.[1]
}

/** `fineTuned`: a merged checkpoint's base model and suffix, which name it as a chat model. */
export async function insertCheckpoint(
  db: Database, checkpoint: Omit<typeof checkpoints.$inferInsert, 'id' | 'modelName'>, fineTuned?: { base: string; suffix?: string },
): Promise<Checkpoint> {
  const id = newId('ckpt')
  const modelName = fineTuned && fineTunedModelName(fineTuned.base, checkpoint.projectId, fineTuned.suffix, id)
  const [row] = await db.insert(checkpoints).values({ id, ...checkpoint, modelName }).returning()
  return row
}

/** The merged checkpoint a chat's model names in the project: by its id or by its whole fine-tuned name. */
export async function servableCheckpoint(db: Database, projectId: string, model: string): Promise<Checkpoint | undefined> {
  const id = checkpointIdOf(model)
  const checkpoint = id ? await getCheckpoint(db, projectId, id) : undefined
  if (!checkpoint?.files.merged?.length) return undefined
  return model === checkpoint.id || model === checkpoint.modelName ? checkpoint : undefined
}

/** The project's merged checkpoints as chat models, newest first, under their fine-tuned names. */
export async function checkpointModels(db: Database, projectId: string): Promise<AgentModel[]> {
  return (await listMergedCheckpoints(db, projectId)).filter((c) => c.files.merged?.length)
    .map((c) => ({ id: c.modelName ?? c.id, created: Math.floor(c.createdAt.getTime() / 1000), ownedBy: projectId }))
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

// A project's checkpoints of every job, newest first; `after` is the last id of the previous page.
export async function listProjectCheckpoints(db: Database, projectId: string, afterId: string | undefined, limit: number) {
  const after = afterId ? await getCheckpoint(db, projectId, afterId) : undefined
  if (afterId && !after) return 'invalid_cursor' as const
  const rows = await db.select().from(checkpoints).where(and(
    eq(checkpoints.projectId, projectId),
    after ? or(lt(checkpoints.createdAt, after.createdAt), and(eq(checkpoints.createdAt, after.createdAt), lt(checkpoints.id, after.id))) : undefined,
  )).orderBy(desc(checkpoints.createdAt), desc(checkpoints.id)).limit(limit + 1)
  return { data: rows.slice(0, limit), hasMore: rows.length > limit }
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
