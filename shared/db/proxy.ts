// The embedded PGlite database lives in one thread (the API's); the model thread reaches it
// through a MessagePort: its drizzle instance is drizzle's Postgres proxy driver, whose every
// query the API thread runs on PGlite with the result parsing drizzle's PGlite driver uses. The
// platform uses no transactions, which that driver cannot carry.
import { type PGlite, types } from '@electric-sql/pglite'
import { drizzle } from 'drizzle-orm/pg-proxy'
import type { MessagePort } from 'node:worker_threads'
import * as schema from './schema.ts'
import type { Database } from './database.ts'

interface Query { id: number; sql: string; params: unknown[]; method: 'all' | 'execute' }
type Answer = { id: number; rows: unknown[] } | { id: number; error: string }

// Dates and intervals stay text, as drizzle's own PGlite driver asks; drizzle maps them.
const RAW = (value: string) => value
const PARSERS = {
  [types.TIMESTAMP]: RAW, [types.TIMESTAMPTZ]: RAW, [types.INTERVAL]: RAW, [types.DATE]: RAW,
  1231: RAW, 1115: RAW, 1185: RAW, 1187: RAW, 1182: RAW,
}

/** Runs the queries that arrive on `port` against `client` (the API thread's side). */
export function serveQueries(client: PGlite, port: MessagePort): void {
  port.on('message', async (q: Query) => {
    let answer: Answer
    try {
      const result = await client.query(q.sql, q.params, { rowMode: q.method === 'all' ? 'array' : 'object', parsers: PARSERS })
      answer = { id: q.id, rows: result.rows }
    } catch (error) {
      answer = { id: q.id, error: (error as Error).message }
    }
    port.postMessage(answer)
  })
}

/** A Database whose queries go through `port` (the model thread's side). */
export function proxyDatabase(port: MessagePort): Database {
  const pending = new Map<number, { resolve: (rows: unknown[]) => void; reject: (error: Error) => void }>()
  let next = 0
  port.on('message', (a: Answer) => {
    const waiter = pending.get(a.id)
    pending.delete(a.id)
    if ('error' in a) waiter?.reject(new Error(a.error))
    else waiter?.resolve(a.rows)
  })
  return drizzle(async (sql, params, method) => {
    const id = next++
    const rows = await new Promise<unknown[]>((resolve, reject) => {
      pending.set(id, { resolve, reject })
      port.postMessage({ id, sql, params, method: method === 'all' ? 'all' : 'execute' } satisfies Query)
    })
    return { rows }
  }, { schema }) as unknown as Database
}
