// `npm run worker`: a worker process that leases jobs from the shared Postgres queue and, when
// PROMPT_R1_WORKER_TOKEN is set, serves the edge's chats on its inference endpoint.
import { openBlobStore } from '../shared/blob/open.ts'
import { ConfigError, loadConfig } from '../shared/config.ts'
import { runMain } from '../shared/main.ts'
import { openConfiguredDatabase } from '../shared/db/embedded.ts'
import { localAgentsFor } from './agent.ts'
import { checkProvider } from './engine/native.ts'
import { startInferenceServer } from './inference-server.ts'
import { jobWorkerFor } from './runners/index.ts'

async function main() {
  const config = loadConfig(process.env)
  if (!config.databaseUrl) {
    throw new ConfigError('npm run worker needs DATABASE_URL: a separate worker shares the queue through a Postgres server '
      + '(with the embedded PGlite database, `npm start` runs the worker in its own process)')
  }
  await checkProvider(config.engine)
  const database = await openConfiguredDatabase(config)
  const blobs = openBlobStore(config)
  const worker = jobWorkerFor(config, database.db, blobs)
  await worker.start()
  console.log(`worker ${worker.id} polling for ${worker.kinds.join(', ')} jobs`)
  const inference = config.worker.token
    ? await startInferenceServer({ id: worker.id, db: database.db, config, agents: localAgentsFor(config, database.db, blobs) })
    : undefined
  console.log(inference
    ? `worker ${worker.id} serving chat at ${inference.url} (${config.worker.slots} at once)`
    : `worker ${worker.id} serves no chat (set PROMPT_R1_WORKER_TOKEN to serve the edge's)`)
  return async () => {
    await inference?.stop()
    await worker.stop()
    await database.close()
  }
}

runMain(main)
