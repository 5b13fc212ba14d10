// A Postgres server through postgres-js: used by Node with DATABASE_URL and by the Cloudflare
// Worker (through Hyperdrive), so this file must not import anything Node-only.
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import * as schema from './schema.ts'
import type { Database, OpenDatabase } from './database.ts'

export function openPostgres(url: string, options: { maxConnections?: number } = {}): OpenDatabase {
  const client = postgres(url, {
    max: options.maxConnections ?? 10,
    // the Worker runtime cannot keep type lookups between requests; every type we use is built in
    fetch_types: false,
    // a server that does not answer is a 503 within seconds, not a request that hangs for 30
    connect_timeout: 5,
    onnotice: () => {},
  })
  const db = drizzle(client, { schema }) as unknown as Database
  return { db, driver: 'postgres', close: () => client.end({ timeout: 5 }) }
}
