import { Hono } from 'hono'
import { z } from 'zod'
import { type ApiKey, createApiKey, listApiKeys, revokeApiKey } from '../../shared/db/api-keys.ts'
import type { Database } from '../../shared/db/database.ts'
import { type AuthEnv, type KnownKeys, requireAdmin } from '../auth.ts'
import { notFound } from '../errors.ts'
import { ApiError } from '../../shared/errors.ts'
import { readJson } from '../request.ts'
import { idParam, unixSeconds } from './common.ts'

export const createApiKeyBody = z.strictObject({
  name: z.string().min(1).max(200),
  // a tenant: keys of one project see only that project's jobs, files and checkpoints
  project_id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, "_" or "-"').optional(),
  admin: z.boolean().default(false),
  // keys of every project; only a superuser key may make one
  superuser: z.boolean().default(false),
})

function toObject(key: ApiKey) {
  return {
    id: key.id, object: 'api_key', name: key.name, project_id: key.projectId, prefix: key.prefix,
    admin: key.isAdmin || key.isSuperuser, superuser: key.isSuperuser, created_at: unixSeconds(key.createdAt), revoked_at: unixSeconds(key.revokedAt),
  }
}

export function apiKeyRoutes(db: Database, keys: KnownKeys) {
  return new Hono<AuthEnv>()
    .use(requireAdmin)
    .post('/', async (c) => {
      const body = await readJson(c, createApiKeyBody)
      const principal = c.get('principal')
      const projectId = body.project_id ?? principal.projectId
      if (!principal.isSuperuser && projectId !== principal.projectId) {
        throw new ApiError(403, 'permission_denied', `An admin key manages the keys of its own project ('${principal.projectId}') only; keys of other projects need a superuser key`, 'project_id')
      }
      if (body.superuser && !principal.isSuperuser) throw new ApiError(403, 'permission_denied', 'Only a superuser key can make a superuser key', 'superuser')
      const { key, secret } = await createApiKey(db, { projectId, name: body.name, isAdmin: body.admin || body.superuser, isSuperuser: body.superuser })
      // the only time the secret is ever shown
      return c.json({ ...toObject(key), secret }, 201)
    })
    .get('/', async (c) => {
      const { isSuperuser, projectId } = c.get('principal')
      return c.json({ object: 'list', data: (await listApiKeys(db, isSuperuser ? undefined : projectId)).map(toObject), has_more: false })
    })
    .delete('/:id', async (c) => {
      const id = idParam(c, 'API key')
      const { isSuperuser, projectId } = c.get('principal')
      // another project's key is not found, as its jobs are not
      const key = await revokeApiKey(db, id, isSuperuser ? undefined : projectId)
      if (!key) throw notFound('API key', id)
      keys.forget(key.id)
      return c.json({ ...toObject(key), deleted: true })
    })
}
