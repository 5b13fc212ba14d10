// Postgres stalled (every server process SIGSTOPped) and stopped mid-run, on a cluster of this
// test's own: the API answers 503 within its deadline while it is away, /health says so, and the
// same app answers again once the server is back, without a restart.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createApp } from '../../edge/app.ts'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import { loadConfig } from '../../shared/config.ts'
import { createApiKey } from '../../shared/db/api-keys.ts'
import type { OpenDatabase } from '../../shared/db/database.ts'
import { migrateDatabase } from '../../shared/db/embedded.ts'
import { openPostgres } from '../../shared/db/postgres.ts'
import { describePostgres } from '../helpers/databases.ts'
import { tempDir } from '../helpers/temp.ts'
import { type Cluster, findPostgresBin, startCluster } from '../setup/postgres-cluster.ts'

describePostgres('Postgres stalled and stopped under a running API', () => {
  let cluster: Cluster
  let database: OpenDatabase
  let app: ReturnType<typeof createApp>
  let key: string

  beforeAll(async () => {
    cluster = await startCluster(findPostgresBin()!)
    database = openPostgres(cluster.url)
    await migrateDatabase(database)
    key = (await createApiKey(database.db, { projectId: 'p', name: 'k', isAdmin: false })).secret
    const config = loadConfig({ PROMPT_R1_REQUEST_TIMEOUT_SECONDS: '2' })
    app = createApp({ db: database.db, databaseDriver: 'postgres', blobs: new LocalBlobStore(tempDir()), config, dispatcher: { jobQueued: () => {} } })
  })
  afterAll(async () => {
    cluster?.signal('SIGCONT')
    await database?.close().catch(() => {})
    cluster?.stop()
  })

  const list = async () => {
    const started = performance.now()
    const response = await app.request('/v1/training/jobs', { headers: { authorization: `Bearer ${key}` } })
    return { status: response.status, retryAfter: response.headers.get('retry-after'), body: await response.json() as any, ms: performance.now() - started }
  }

  it('answers 503 within the deadline while the server is stalled, and again normally once it goes on', async () => {
    expect((await list()).status).toBe(200)
    cluster.signal('SIGSTOP')
    try {
      const stalled = await list()
      expect(stalled).toMatchObject({ status: 503, body: { error: { code: 'request_timeout' } } })
      expect(stalled.ms).toBeLessThan(5000)
      const health = await app.request('/health')
      expect(health.status).toBe(503)
      expect(await health.json()).toMatchObject({ checks: { database: 'timeout', blob_store: 'ok' } })
    } finally {
      cluster.signal('SIGCONT')
    }
    expect((await list()).status).toBe(200)
    expect((await app.request('/health')).status).toBe(200)
  })

  it('answers 503 with Retry-After while the server is down, and recovers when it is back', async () => {
    cluster.down()
    try {
      const down = await list()
      expect(down).toMatchObject({ status: 503, retryAfter: '5', body: { error: { code: 'service_unavailable' } } })
      expect(down.body.error.message).toMatch(/^The database is unavailable/)
      expect((await app.request('/health')).status).toBe(503)
    } finally {
      cluster.up()
    }
    expect((await list()).status).toBe(200)
  })
})
