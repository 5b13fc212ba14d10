// The edge as a Cloudflare Worker: Postgres through the Hyperdrive binding, blobs in S3 or R2.
// Workers keep no state between requests, so the app is built per request from the bindings;
// jobs are picked up by workers polling the queue (there is no in-process worker here).
import { DOMParser, Node } from '@xmldom/xmldom'
import { S3BlobStore } from '../shared/blob/s3.ts'
import { ConfigError, loadConfig } from '../shared/config.ts'
import { openPostgres } from '../shared/db/postgres.ts'
import { createApp } from './app.ts'
import { errorBody } from './errors.ts'

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
    const app = createApp({
      db: database.db, databaseDriver: database.driver, blobs: new S3BlobStore(config.s3), config,
      dispatcher: { jobQueued: () => {} },
    })
    try {
      return await app.fetch(request)
    } finally {
      context.waitUntil(database.close())
    }
  },
}
