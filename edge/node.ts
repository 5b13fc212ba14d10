// `npm start`: the platform on one machine. The edge API under Node, the database (PGlite in the
// data folder unless DATABASE_URL is set), the blob store (a local folder unless S3_BUCKET is set)
// and, unless PROMPT_R1_IN_PROCESS_WORKER=false, a worker in the same process.
import { serve } from '@hono/node-server'
import { LocalAgents } from '../gpu-worker/agent.ts'
import { checkProvider } from '../gpu-worker/engine/native.ts'
import { createRunners } from '../gpu-worker/runners/index.ts'
import { JobWorker } from '../gpu-worker/worker.ts'
import { openBlobStore } from '../shared/blob/open.ts'
import { loadConfig } from '../shared/config.ts'
import { runMain } from '../shared/main.ts'
import { ensureAdminKey } from '../shared/db/api-keys.ts'
import { openConfiguredDatabase } from '../shared/db/embedded.ts'
import { createApp } from './app.ts'

async function main() {
  const config = loadConfig(process.env)
  if (config.inProcessWorker || config.agent.source) await checkProvider(config.engine)
  const where = config.databaseUrl ? 'the Postgres server in DATABASE_URL' : `PGlite in ${config.dataDir}/pgdata`
  console.log(`Opening the database (${where}) and applying migrations...`)
  const database = await openConfiguredDatabase(config)
  const generatedAdminKey = await ensureAdminKey(database.db, config.adminKey)
  const blobs = openBlobStore(config)
  const worker = config.inProcessWorker
    ? new JobWorker({ db: database.db, blobs, runners: createRunners(config), ...config.queue })
    : undefined
  await worker?.start()
  const agents = new LocalAgents({
    db: database.db, blobs, allowLoopbackEnvironment: config.allowLoopbackEnvironment, engine: config.engine,
    defaultModel: config.agent.source ? { name: config.agent.name, source: config.agent.source } : undefined,
  })
  const app = createApp({
    db: database.db, databaseDriver: database.driver, blobs, config, agents,
    dispatcher: { jobQueued: () => worker?.wake() },
  })
  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => {
    console.log(`Prompt-R1 platform listening on http://${config.host}:${info.port}`)
    console.log(`  dashboard: http://${config.host}:${info.port}/dashboard`)
    console.log(`  database: ${database.driver}, blob store: ${blobs.kind}, in-process worker: ${worker ? worker.kinds.join(', ') : 'off'}`)
    console.log(`  agent: ${config.agent.source ? `${config.agent.name} from ${config.agent.source}` : 'merged checkpoints only (set PROMPT_R1_AGENT_MODEL to serve one by name)'}`
      + `, environment: ${config.environment ? `${config.environment.model} at ${config.environment.baseURL}` : 'per request'}`)
    if (generatedAdminKey) {
      console.log(`  admin API key (shown once; store it now): ${generatedAdminKey}`)
    }
  })
  return async () => {
    console.log('Shutting down...')
    server.close()
    await worker?.stop()
    await database.close()
  }
}

runMain(main)
