// `npm start`: the platform on one machine, and the one place that wires the edge API and a worker
// into one process (edge/ and gpu-worker/ never import each other; this composes both): the edge
// API under Node, the database (PGlite in the data folder unless DATABASE_URL is set), the blob
// store (a local folder unless S3_BUCKET is set) and a model thread: the served agents (unless
// PROMPT_R1_CHAT_AGENTS=workers sends chats to GPU workers) and, unless
// PROMPT_R1_IN_PROCESS_WORKER=false, a job worker, off the API's event loop.
import { serve } from '@hono/node-server'
import { checkProvider } from '../gpu-worker/engine/native.ts'
import { ModelThread } from '../gpu-worker/model-thread.ts'
import { openBlobStore } from '../shared/blob/open.ts'
import { loadConfig } from '../shared/config.ts'
import { runMain } from '../shared/main.ts'
import { ensureAdminKey } from '../shared/db/api-keys.ts'
import { openConfiguredDatabase } from '../shared/db/embedded.ts'
import { createApp } from '../edge/app.ts'
import { RemoteAgents } from '../edge/remote-agents.ts'

async function main() {
  const config = loadConfig(process.env)
  if (config.inProcessWorker || (config.agent.source && config.chatAgents === 'in-process')) await checkProvider(config.engine)
  const where = config.databaseUrl ? 'the Postgres server in DATABASE_URL' : `PGlite in ${config.dataDir}/pgdata`
  console.log(`Opening the database (${where}) and applying migrations...`)
  const database = await openConfiguredDatabase(config)
  const generatedAdminKey = await ensureAdminKey(database.db, config.adminKey)
  const blobs = openBlobStore(config)
  const onWorkers = config.chatAgents === 'workers'
  const models = config.inProcessWorker || !onWorkers ? await ModelThread.start(config, database) : undefined
  const agents = onWorkers ? new RemoteAgents({ db: database.db, token: config.worker.token!, staleMs: 3 * config.queue.heartbeatMs }) : models
  const app = createApp({
    db: database.db, databaseDriver: database.driver, blobs, config, agents,
    dispatcher: { jobQueued: () => models?.wake() },
  })
  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => {
    const base = `http://${config.host}:${info.port}`
    // One write: a reader that waits for the URL (a test, a supervisor's log) sees the whole banner.
    console.log([
      `Prompt-R1 platform listening on ${base}`,
      `  dashboard: ${base}/dashboard`,
      `  database: ${database.driver}, blob store: ${blobs.kind}, in-process worker: ${models?.kinds.length ? models.kinds.join(', ') : 'off'}`,
      onWorkers
        ? '  chat: on the GPU workers that advertise an inference endpoint in the workers table'
        : `  agent: ${config.agent.source ? `${config.agent.name} from ${config.agent.source}` : 'merged checkpoints only (set PROMPT_R1_AGENT_MODEL to serve one by name)'}`
          + `, environment: ${config.environment ? `${config.environment.model} at ${config.environment.baseURL}` : 'per request'}`,
      ...(generatedAdminKey ? [`  admin API key (shown once; store it now): ${generatedAdminKey}`, ...firstSteps(base)] : []),
    ].join('\n'))
  })
  return async () => {
    console.log('Shutting down...')
    server.close()
    await models?.stop()
    await database.close()
  }
}

runMain(main)

/** What a new platform can do next, said on its first start (a fresh data folder). */
function firstSteps(base: string): string[] {
  return [
    '',
    'What next:',
    `  - open ${base}/dashboard and sign in with the key above; ${base}/docs is the API reference`,
    '  - offline, in about a minute: "Train the demo agent" on the dashboard\'s jobs page (or, with',
    '    PROMPT_R1_API_KEY set to the key above, `npm run demo:train`): a tiny sample agent learns to ask',
    '    the built-in arithmetic environment; then its curves and episodes, and a chat with it in the Playground',
    '  - with a large LLM (any OpenAI-compatible API): `npm run prompt-r1 -- datasets pull train validation`,',
    '    then a training job of hf:Qwen/Qwen3-0.6B with that environment (the form\'s "Estimate the cost"',
    '    says what the published recipe takes first), or an evaluation of the published sets',
  ]
}
