// The tenancy of API keys: a project's admin key manages that project's keys only; the operator's
// superuser key manages every project's. Another project's key is as invisible as its jobs.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import { createApiKey, ensureAdminKey, findKeyBySecret } from '../../shared/db/api-keys.ts'
import type { OpenDatabase } from '../../shared/db/database.ts'
import { describePostgres, freshPostgres } from '../helpers/databases.ts'
import { expectApiError, testApp } from '../helpers/app.ts'
import { tempDir } from '../helpers/temp.ts'

describePostgres('admin and superuser keys', () => {
  let database: OpenDatabase
  let t: Awaited<ReturnType<typeof testApp>>
  let adminA: string

  beforeAll(async () => {
    database = await freshPostgres()
    t = await testApp(database, new LocalBlobStore(tempDir()))
    const made = await t.request('POST', '/v1/api_keys', { json: { name: 'admin of a', project_id: 'tenant-a', admin: true } })
    expect(made.json).toMatchObject({ admin: true, superuser: false, project_id: 'tenant-a' })
    adminA = made.json.secret
  })
  afterAll(async () => { await database?.close() })

  it('lets a project admin manage its own project\'s keys and nothing else', async () => {
    const own = await t.request('POST', '/v1/api_keys', { key: adminA, json: { name: 'ci of a' } })
    expect(own.status).toBe(201)
    expect(own.json.project_id).toBe('tenant-a')
    expect((await t.request('POST', '/v1/api_keys', { key: adminA, json: { name: 'second admin', project_id: 'tenant-a', admin: true } })).status).toBe(201)
    const keyOfB = await t.request('POST', '/v1/api_keys', { json: { name: 'ci of b', project_id: 'tenant-b' } })

    expectApiError(await t.request('POST', '/v1/api_keys', { key: adminA, json: { name: 'x', project_id: 'tenant-b' } }), 403, 'permission_denied', 'project_id')
    expectApiError(await t.request('POST', '/v1/api_keys', { key: adminA, json: { name: 'x', project_id: 'tenant-b', admin: true } }), 403, 'permission_denied', 'project_id')
    expectApiError(await t.request('POST', '/v1/api_keys', { key: adminA, json: { name: 'x', superuser: true } }), 403, 'permission_denied', 'superuser')
    const listed = await t.request('GET', '/v1/api_keys', { key: adminA })
    expect(new Set(listed.json.data.map((k: { project_id: string }) => k.project_id))).toEqual(new Set(['tenant-a']))
    expectApiError(await t.request('DELETE', `/v1/api_keys/${keyOfB.json.id}`, { key: adminA }), 404, 'not_found')
    expect((await findKeyBySecret(database.db, keyOfB.json.secret))?.revokedAt).toBeNull()
    expect((await t.request('DELETE', `/v1/api_keys/${own.json.id}`, { key: adminA })).json).toMatchObject({ deleted: true })
  })

  it('lets the superuser see and mint keys of every project', async () => {
    const all = await t.request('GET', '/v1/api_keys')
    expect(new Set(all.json.data.map((k: { project_id: string }) => k.project_id))).toEqual(new Set(['default', 'tenant-a', 'tenant-b']))
    const second = await t.request('POST', '/v1/api_keys', { json: { name: 'operator 2', superuser: true } })
    expect(second.json).toMatchObject({ admin: true, superuser: true })
    expect((await t.request('GET', '/v1/api_keys', { key: second.json.secret })).json.data.length).toBe(all.json.data.length + 1)
  })

  it('makes a superuser key at start where a database has admin keys but none', async () => {
    const db = (await freshPostgres()).db
    await createApiKey(db, { projectId: 'default', name: 'old admin', isAdmin: true })
    const generated = await ensureAdminKey(db)
    expect(generated).toMatch(/^pr1-/)
    expect(await findKeyBySecret(db, generated!)).toMatchObject({ isSuperuser: true })
    expect(await ensureAdminKey(db)).toBeUndefined()
  })
})
