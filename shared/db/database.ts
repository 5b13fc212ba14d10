import type { PGlite } from '@electric-sql/pglite'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import type * as schema from './schema.ts'

// The one type the rest of the code sees, whether PGlite (embedded) or a Postgres server is behind it.
export type Database = PgDatabase<PgQueryResultHKT, typeof schema>

export interface OpenDatabase {
  db: Database
  // 'pglite' or 'postgres', shown by /health
  driver: 'pglite' | 'postgres'
  // the embedded database itself, which other threads reach through it (shared/db/proxy.ts)
  pglite?: PGlite
  close(): Promise<void>
}
