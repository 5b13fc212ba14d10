// The model thread of `npm start` (model-thread.ts starts it): the job worker and the served
// agents run here, so that model work (sessions, sampling, weight loading, optimizer steps) never
// holds up the API's event loop. The database is the API thread's (through a port) unless it is a
// Postgres server, which this thread connects to itself.
import { parentPort, workerData } from 'node:worker_threads'
import type { MessagePort } from 'node:worker_threads'
import { openBlobStore } from '../shared/blob/open.ts'
import type { Config } from '../shared/config.ts'
import { openPostgres } from '../shared/db/postgres.ts'
import { proxyDatabase } from '../shared/db/proxy.ts'
import { ApiError } from '../shared/errors.ts'
import { localAgentsFor } from './agent.ts'
import { jobWorkerFor } from './runners/index.ts'
import type { HostMessage, ThreadMessage } from './model-thread.ts'

const { config, database } = workerData as { config: Config; database: MessagePort }
const postgres = config.databaseUrl ? openPostgres(config.databaseUrl) : null
const db = postgres ? postgres.db : proxyDatabase(database)
const blobs = openBlobStore(config)
const worker = config.inProcessWorker ? jobWorkerFor(config, db, blobs) : undefined
const agents = localAgentsFor(config, db, blobs)
const runs = new Map<number, AbortController>()
const post = (message: ThreadMessage) => parentPort!.postMessage(message)

const answer = async (id: number, work: () => Promise<unknown>) => {
  try {
    post({ type: 'reply', id, value: await work() })
  } catch (error) {
    const e = error as Error
    post({ type: 'failed', id, message: e.message, api: e instanceof ApiError ? { status: e.status, code: e.code, param: e.param ?? null } : undefined })
  }
}

parentPort!.on('message', async (m: HostMessage) => {
  if (m.type === 'wake') worker?.wake()
  else if (m.type === 'models') await answer(m.id, () => agents.models(m.projectId))
  else if (m.type === 'hasModel') await answer(m.id, () => agents.hasModel(m.projectId, m.model))
  else if (m.type === 'abort') runs.get(m.id)?.abort()
  else if (m.type === 'run') {
    const abort = new AbortController()
    runs.set(m.id, abort)
    await answer(m.id, () => agents.run({ ...m.request, signal: abort.signal, onEvent: (event) => post({ type: 'event', id: m.id, event }) }))
    runs.delete(m.id)
  } else if (m.type === 'stop') {
    await worker?.stop()
    await postgres?.close()
    post({ type: 'stopped' })
  }
})

await worker?.start()
post({ type: 'ready', kinds: worker?.kinds ?? [] })
