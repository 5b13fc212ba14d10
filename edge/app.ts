// The edge API as one Hono app, built from its dependencies so that the same app runs under
// Node (platform/embedded.ts), in a Cloudflare Worker (edge/worker.ts) and in tests.
import { sql } from 'drizzle-orm'
import { Hono } from 'hono'
import type { BlobStore } from '../shared/blob/store.ts'
import type { Config } from '../shared/config.ts'
import type { Database } from '../shared/db/database.ts'
import { apiDocsPage } from './api-docs.ts'
import { type AuthEnv, KnownKeys, requireApiKey } from './auth.ts'
import { openApiDocument } from './openapi.ts'
import { dashboardRoutes } from './dashboard/routes.tsx'
import { RETRY_AFTER_SECONDS, serviceFault } from '../shared/faults.ts'
import { errorBody, handleError } from './errors.ts'
import { ApiError } from '../shared/errors.ts'
import { limitBody, withDeadline } from './request.ts'
import { apiKeyRoutes } from './routes/api-keys.ts'
import type { AgentService } from '../shared/agents.ts'
import { chatRoutes } from './routes/chat.ts'
import { checkpointRoutes } from './routes/checkpoints.ts'
import { evaluationRoutes } from './routes/evaluations.ts'
import { fileRoutes } from './routes/files.ts'
import { type WorkerDispatcher, trainingJobRoutes } from './routes/training-jobs.ts'

export type { WorkerDispatcher }

export interface AppDeps {
  db: Database
  databaseDriver: 'pglite' | 'postgres'
  blobs: BlobStore
  dispatcher: WorkerDispatcher
  // who answers /v1/chat/completions; none in a Cloudflare Worker
  agents?: AgentService
  config: Pick<Config, 'limits' | 'queue' | 'downloadUrlSeconds' | 'publicUrl' | 'requestTimeoutMs' | 'chatTimeoutMs' | 'modelFolders' | 'environment' | 'allowLoopbackEnvironment'>
}

export const VERSION = '0.1.0'

// a browser asks for it on every page: the project's mark instead of a 404
const FAVICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1f4e79"/>' +
  '<text x="16" y="22" font-family="sans-serif" font-size="14" font-weight="700" fill="#fff" text-anchor="middle">R1</text></svg>'

export function createApp(deps: AppDeps) {
  const { db, blobs, dispatcher, agents, config } = deps
  const app = new Hono<AuthEnv>()
  app.onError(handleError)
  app.notFound((c) => c.json(errorBody('not_found', `No route for ${c.req.method} ${c.req.path}`), 404))

  app.get('/health', async (c) => {
    // both services, the blob store by a write: one that can only be read cannot take uploads or checkpoints
    // each within the request deadline: a stalled service is reported as one, not waited for
    const check = (probe: Promise<unknown>) => withDeadline(config.requestTimeoutMs, () => probe.then(() => {}))
      .then(() => 'ok', (error) => (error instanceof ApiError ? 'timeout' : serviceFault(error)?.code ?? 'failing'))
    const [database, blobStore] = await Promise.all([
      check(db.execute(sql`select 1`)),
      check(blobs.put('health/probe', new TextEncoder().encode('ok'))),
    ])
    const body = { version: VERSION, database: deps.databaseDriver, blob_store: blobs.kind, checks: { database, blob_store: blobStore } }
    if (database === 'ok' && blobStore === 'ok') return c.json({ status: 'ok', ...body })
    c.header('Retry-After', String(RETRY_AFTER_SECONDS))
    return c.json({ status: 'unavailable', ...body }, 503)
  })

  // the dashboard page is public: it holds no data and calls the API below with the user's key
  app.route('/dashboard', dashboardRoutes())
  app.get('/', (c) => c.redirect('/dashboard', 302))
  // the API's description, generated once from the routes' schemas, and its page
  let description: ReturnType<typeof openApiDocument> | undefined
  const describe = () => (description ??= openApiDocument(VERSION))
  app.get('/openapi.json', (c) => c.json(describe()))
  app.get('/docs', (c) => c.html(apiDocsPage(describe())))
  app.get('/favicon.ico', (c) => c.body(FAVICON, 200, { 'content-type': 'image/svg+xml', 'cache-control': 'public, max-age=86400' }))

  const v1 = new Hono<AuthEnv>()
  // a stalled database must not hold requests for ever: every answer but an upload's (whose body
  // may take long to arrive) starts within the deadline; streams then run as long as they need
  v1.use(async (c, next) => {
    // chat has a deadline of its own (PROMPT_R1_CHAT_TIMEOUT_SECONDS): an agent's turns take minutes
    if (c.req.method === 'POST' && (c.req.path === '/v1/files' || c.req.path === '/v1/chat/completions')) return next()
    return withDeadline(config.requestTimeoutMs, next)
  })
  const keys = new KnownKeys()
  v1.use(requireApiKey(db, keys))
  // uploads have their own, larger limit; every other body is small JSON
  v1.use(async (c, next) => {
    if (c.req.method === 'POST' && c.req.path === '/v1/files') return next()
    return limitBody(config.limits.maxBodyBytes)(c, next)
  })
  v1.route('/api_keys', apiKeyRoutes(db, keys))
  v1.route('/files', fileRoutes(db, blobs, config.limits.maxUploadBytes))
  const jobOptions = { maxAttempts: config.queue.maxAttempts, allowLoopbackEnvironment: config.allowLoopbackEnvironment, modelFolders: config.modelFolders, serverEnvironment: config.environment !== undefined, workerStaleMs: 3 * config.queue.heartbeatMs }
  v1.route('/training/jobs', trainingJobRoutes(db, blobs, dispatcher, jobOptions))
  v1.route('/evaluations', evaluationRoutes(db, blobs, dispatcher, jobOptions))
  v1.route('/checkpoints', checkpointRoutes(db, blobs, config))
  v1.route('/', chatRoutes(db, agents, config))
  app.route('/v1', v1)
  return app
}

export type App = ReturnType<typeof createApp>
