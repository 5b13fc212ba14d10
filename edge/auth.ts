// Bearer API keys. A key belongs to one project (tenant) and sees only that project's objects. An
// admin key also manages its own project's keys; a superuser key (the operator's) manages the keys
// of every project.
import type { MiddlewareHandler } from 'hono'
import { type ApiKey, findKeyById, findKeyBySecret } from '../shared/db/api-keys.ts'
import type { Database } from '../shared/db/database.ts'
import { ApiError } from '../shared/errors.ts'
import { ID_PATTERN } from './routes/common.ts'
import { checkSignedLink, signedKeyId } from './signed-links.ts'

export interface Principal { keyId: string; projectId: string; isAdmin: boolean; isSuperuser: boolean }

export type AuthEnv = { Variables: { principal: Principal } }

// How long a known key's row answers for it without a query. Under load the check was a hash and a
// query per request, the largest part of a chat's time in the edge before its run started
// (bench/edge-hop.ts). Revoking through this edge forgets the key at once; another edge process
// honours a revocation within this time (README, API keys).
export const KEY_CACHE_MS = 10_000
const KEY_CACHE_ENTRIES = 10_000

/** The keys this edge has seen lately, by secret: only keys that were valid when read. */
export class KnownKeys {
  private readonly bySecret = new Map<string, { key: ApiKey; until: number }>()

  async find(db: Database, secret: string): Promise<ApiKey | undefined> {
    const known = this.bySecret.get(secret)
    if (known && known.until > Date.now()) return known.key
    this.bySecret.delete(secret)
    const key = await findKeyBySecret(db, secret)
    if (key && !key.revokedAt) {
      // the oldest entry goes first (a Map keeps insertion order)
      if (this.bySecret.size >= KEY_CACHE_ENTRIES) this.bySecret.delete(this.bySecret.keys().next().value!)
      this.bySecret.set(secret, { key, until: Date.now() + KEY_CACHE_MS })
    }
    return key
  }

  forget(keyId: string): void {
    for (const [secret, { key }] of this.bySecret) if (key.id === keyId) this.bySecret.delete(secret)
  }
}

// A request carries a Bearer key, or (a GET only) is a signed link the API handed out (signed-links.ts).
export function requireApiKey(db: Database, keys: KnownKeys): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization')
    let key: ApiKey | undefined
    const url = header || c.req.method !== 'GET' ? null : new URL(c.req.url)
    const linkKeyId = url && signedKeyId(url)
    if (url && linkKeyId !== null) {
      key = ID_PATTERN.test(linkKeyId) ? await findKeyById(db, linkKeyId) : undefined
      await checkSignedLink(url, key)
    } else {
      if (!header) throw new ApiError(401, 'missing_api_key', "No API key given: send 'Authorization: Bearer <key>'")
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
      if (!match) throw new ApiError(401, 'invalid_api_key', "The Authorization header must be 'Bearer <key>'")
      key = await keys.find(db, match[1])
    }
    if (!key) throw new ApiError(401, 'invalid_api_key', 'Incorrect API key provided')
    if (key.revokedAt) throw new ApiError(401, 'revoked_api_key', `The API key ${key.prefix}... was revoked`)
    c.set('principal', { keyId: key.id, projectId: key.projectId, isAdmin: key.isAdmin || key.isSuperuser, isSuperuser: key.isSuperuser })
    await next()
  }
}

export const requireAdmin: MiddlewareHandler<AuthEnv> = async (c, next) => {
  if (!c.get('principal').isAdmin) throw new ApiError(403, 'permission_denied', 'This endpoint needs an admin API key')
  await next()
}
