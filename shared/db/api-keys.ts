// API keys: the secret is shown once at creation; only its sha256 and a visible prefix are stored.
import { and, desc, eq, isNull } from 'drizzle-orm'
import { newId, randomToken, sha256Hex } from '../ids.ts'
import type { Database } from './database.ts'
import { apiKeys } from './schema.ts'

export type ApiKey = typeof apiKeys.$inferSelect

export const DEFAULT_PROJECT = 'default'
const SECRET_PREFIX = 'pr1-'

export function newSecret(): string {
  return SECRET_PREFIX + randomToken(40)
}

// enough of the secret to tell keys apart in a list, far too little to guess the rest
const visiblePrefix = (secret: string) => secret.slice(0, SECRET_PREFIX.length + 6)

export async function createApiKey(db: Database, input: {
  projectId: string; name: string; isAdmin: boolean; isSuperuser?: boolean; secret?: string
}): Promise<{ key: ApiKey; secret: string }> {
  const secret = input.secret ?? newSecret()
  const [key] = await db.insert(apiKeys).values({
    id: newId('key'),
    projectId: input.projectId,
    name: input.name,
    secretHash: await sha256Hex(secret),
    prefix: visiblePrefix(secret),
    isAdmin: input.isAdmin,
    isSuperuser: input.isSuperuser ?? false,
  }).returning()
  return { key, secret }
}

export async function findKeyBySecret(db: Database, secret: string): Promise<ApiKey | undefined> {
  const [key] = await db.select().from(apiKeys).where(eq(apiKeys.secretHash, await sha256Hex(secret)))
  return key
}

export async function findKeyById(db: Database, id: string): Promise<ApiKey | undefined> {
  const [key] = await db.select().from(apiKeys).where(eq(apiKeys.id, id))
  return key
}

// `projectId`: that project's keys only; undefined: every project's (a superuser's view)
export async function listApiKeys(db: Database, projectId?: string): Promise<ApiKey[]> {
  return db.select().from(apiKeys).where(projectId === undefined ? undefined : eq(apiKeys.projectId, projectId))
    .orderBy(desc(apiKeys.createdAt), desc(apiKeys.id))
}

export async function revokeApiKey(db: Database, id: string, projectId?: string): Promise<ApiKey | undefined> {
  const own = and(eq(apiKeys.id, id), projectId === undefined ? undefined : eq(apiKeys.projectId, projectId))
  const [key] = await db.update(apiKeys).set({ revokedAt: new Date() }).where(and(own, isNull(apiKeys.revokedAt))).returning()
  return key ?? (await db.select().from(apiKeys).where(own))[0]
}

// First start: make sure the operator can log in with a superuser key. With PROMPT_R1_ADMIN_KEY
// that key is registered (idempotently) as one; otherwise one is generated, once, and its secret
// returned for printing (also where an older database has admin keys but no superuser yet).
export async function ensureAdminKey(db: Database, configured?: string): Promise<string | undefined> {
  const superuser = { projectId: DEFAULT_PROJECT, isAdmin: true, isSuperuser: true }
  if (configured) {
    const known = await findKeyBySecret(db, configured)
    if (!known) await createApiKey(db, { ...superuser, name: 'superuser (PROMPT_R1_ADMIN_KEY)', secret: configured })
    else if (!known.isSuperuser) await db.update(apiKeys).set({ isSuperuser: true }).where(eq(apiKeys.id, known.id))
    return undefined
  }
  const [any] = await db.select({ id: apiKeys.id }).from(apiKeys).where(and(eq(apiKeys.isSuperuser, true), isNull(apiKeys.revokedAt))).limit(1)
  if (any) return undefined
  const { secret } = await createApiKey(db, { ...superuser, name: 'superuser (generated at first start)' })
  return secret
}
