import { Hono } from 'hono'
import { z } from 'zod'
import { type ApiKey, createApiKey, listApiKeys, revokeApiKey } from '../../shared/db/api-keys.ts'
import type { Database } from '../../shared/db/database.ts'
import { type AuthEnv, requireAdmin } from '../auth.ts'
import { notFound } from '../errors.ts'
import { readJson } from '../request.ts'
import { idParam, unixSeconds } from './common.ts'

const createBody = z.strictObject({
  name: z.string().min(1).max(200),
  // a tenant: keys of one project see only that project's jobs, files and checkpoints
  project_id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, "_" or "-"').optional(),
  admin: z.boolean().default(false),
})

function toObject(key: ApiKey) {
  return {
    id: key.id, object: 'api_key', name: key.name, project_id: key.projectId, prefix: key.prefix,
    admin: key.isAdmin, created_at: unixSeconds(key.createdAt), revoked_at: unixSeconds(key.revokedAt),
  }
}

export function apiKeyRoutes(db: Database) {
  return new Hono<AuthEnv>()
    .use(requireAdmin)
    .post('/', async (c) => {
      const body = await readJson(c, createBody)
      const { key, secret } = await createApiKey(db, {
        projectId: body.project_id ?? c.get('principal').projectId, name: body.name, isAdmin: body.admin,
      })
      // the only time the secret is ever shown
      return c.json({ ...toObject(key), secret }, 201)
    })
    .get('/', async (c) => c.json({ object: 'list', data: (await listApiKeys(db)).map(toObject), has_more: false }))
    .delete('/:id', async (c) => {
      const id = idParam(c, 'API key')
      const key = await revokeApiKey(db, id)
      if (!key) throw notFound('API key', id)
      return c.json({ ...toObject(key), deleted: true })
    })
}
