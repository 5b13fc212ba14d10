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
  projectId: string; name: string; isAdmin: boolean; secret?: string
}): Promise<{ key: ApiKey; secret: string }> {
  const secret = input.secret ?? newSecret()
  const [key] = await db.insert(apiKeys).values({
    id: newId('key'),
    projectId: input.projectId,
    name: input.name,
    secretHash: await sha256Hex(secret),
    prefix: visiblePrefix(secret),
    isAdmin: input.isAdmin,
  }).returning()
  return { key, secret }
}

export async function findKeyBySecret(db: Database, secret: string): Promise<ApiKey | undefined> {
  const [key] = await db.select().from(apiKeys).where(eq(apiKeys.secretHash, await sha256Hex(secret)))
  return key
}

export async function listApiKeys(db: Database): Promise<ApiKey[]> {
  return db.select().from(apiKeys).orderBy(desc(apiKeys.createdAt), desc(apiKeys.id))
}

export async function revokeApiKey(db: Database, id: string): Promise<ApiKey | undefined> {
  const [key] = await db.update(apiKeys).set({ revokedAt: new Date() })
    .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt))).returning()
  return key ?? (await db.select().from(apiKeys).where(eq(apiKeys.id, id)))[0]
}

// First start: make sure some admin can log in. With PROMPT_R1_ADMIN_KEY that key is registered
// (idempotently); otherwise one is generated, once, and its secret returned for printing.
export async function ensureAdminKey(db: Database, configured?: string): Promise<string | undefined> {
  if (configured) {
    if (!(await findKeyBySecret(db, configured))) {
      await createApiKey(db, { projectId: DEFAULT_PROJECT, name: 'admin (PROMPT_R1_ADMIN_KEY)', isAdmin: true, secret: configured })
    }
    return undefined
  }
  const [anyAdmin] = await db.select({ id: apiKeys.id }).from(apiKeys).where(and(eq(apiKeys.isAdmin, true), isNull(apiKeys.revokedAt))).limit(1)
  if (anyAdmin) return undefined
  const { secret } = await createApiKey(db, { projectId: DEFAULT_PROJECT, name: 'admin (generated at first start)', isAdmin: true })
  return secret
}
