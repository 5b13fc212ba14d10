// `npm run worker`: a worker process that leases jobs from the shared Postgres queue.
import { openBlobStore } from '../shared/blob/open.ts'
import { ConfigError, loadConfig } from '../shared/config.ts'
import { runMain } from '../shared/main.ts'
import { openConfiguredDatabase } from '../shared/db/embedded.ts'
import { checkProvider } from './engine/native.ts'
import { createRunners } from './runners/index.ts'
import { JobWorker } from './worker.ts'

async function main() {
  const config = loadConfig(process.env)
  if (!config.databaseUrl) {
    throw new ConfigError('npm run worker needs DATABASE_URL: a separate worker shares the queue through a Postgres server '
      + '(with the embedded PGlite database, `npm start` runs the worker in its own process)')
  }
  await checkProvider(config.engine)
  const database = await openConfiguredDatabase(config)
  const worker = new JobWorker({ db: database.db, blobs: openBlobStore(config), runners: createRunners(config), ...config.queue })
  await worker.start()
  console.log(`worker ${worker.id} polling for ${worker.kinds.join(', ')} jobs`)
  return async () => {
    await worker.stop()
    await database.close()
  }
}

runMain(main)
