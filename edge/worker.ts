// The edge as a Cloudflare Worker: Postgres through the Hyperdrive binding, blobs in S3 or R2.
// Workers keep no state between requests, so the app is built per request from the bindings;
// jobs are picked up by workers polling the queue (there is no in-process worker here), and chats
// go to the GPU workers' inference endpoints (edge/remote-agents.ts).
import { DOMParser, Node } from '@xmldom/xmldom'
import { S3BlobStore } from '../shared/blob/s3.ts'
import { ConfigError, loadConfig } from '../shared/config.ts'
import { openPostgres } from '../shared/db/postgres.ts'
import { createApp } from './app.ts'
import { errorBody } from './errors.ts'
import { RemoteAgents } from './remote-agents.ts'

// @aws-sdk/client-s3 parses XML with DOMParser, which workerd does not have
const globals = globalThis as Record<string, unknown>
globals.DOMParser ??= DOMParser
globals.Node ??= Node

interface Env {
  HYPERDRIVE: { connectionString: string }
  [name: string]: unknown
}

export default {
  async fetch(request: Request, env: Env, context: { waitUntil(promise: Promise<unknown>): void }): Promise<Response> {
    const vars = Object.fromEntries(Object.entries(env).filter(([, v]) => typeof v === 'string')) as Record<string, string>
    let config
    try {
      config = loadConfig(vars)
      if (!config.s3) throw new ConfigError('invalid configuration:\n  S3_BUCKET: the Worker keeps blobs in S3 or R2; set S3_BUCKET and S3_ENDPOINT')
    } catch (error) {
      return Response.json(errorBody('server_misconfigured', (error as Error).message), { status: 500 })
    }
    const database = openPostgres(env.HYPERDRIVE.connectionString, { maxConnections: 1 })
    // chats go to the GPU workers; without the worker token the chat API answers 503 agent_unavailable
    const agents = config.worker.token ? new RemoteAgents({ db: database.db, token: config.worker.token, staleMs: 3 * config.queue.heartbeatMs }) : undefined
    const app = createApp({
      db: database.db, databaseDriver: database.driver, blobs: new S3BlobStore(config.s3), config, agents,
      dispatcher: { jobQueued: () => {} },
    })
    let response: Response
    try {
      response = await app.fetch(request)
    } catch (error) {
      context.waitUntil(database.close())
      throw error
    }
    if (!response.body) {
      context.waitUntil(database.close())
      return response
    }
    // a streamed answer (a chat) still uses the database when it ends: closed once the body is done
    const { readable, writable } = new TransformStream()
    context.waitUntil(response.body.pipeTo(writable).catch(() => {}).finally(() => database.close()))
    return new Response(readable, response)
  },
}
