import { and, desc, eq, lt, or } from 'drizzle-orm'
import type { Database } from './database.ts'
import { files } from './schema.ts'

export type StoredFile = typeof files.$inferSelect

export async function insertFile(db: Database, file: typeof files.$inferInsert): Promise<StoredFile> {
  const [row] = await db.insert(files).values(file).returning()
  return row
}

export async function getFile(db: Database, projectId: string, id: string): Promise<StoredFile | undefined> {
  const [row] = await db.select().from(files).where(and(eq(files.id, id), eq(files.projectId, projectId)))
  return row
}

export async function listFiles(db: Database, projectId: string, after: StoredFile | undefined, limit: number) {
  const rows = await db.select().from(files).where(and(
    eq(files.projectId, projectId),
    after ? or(lt(files.createdAt, after.createdAt), and(eq(files.createdAt, after.createdAt), lt(files.id, after.id))) : undefined,
  )).orderBy(desc(files.createdAt), desc(files.id)).limit(limit + 1)
  return { data: rows.slice(0, limit), hasMore: rows.length > limit }
}
