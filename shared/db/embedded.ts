// Node-only: the embedded PGlite database (a real Postgres in WASM) and the migrator for both drivers.
import { PGlite } from '@electric-sql/pglite'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator'
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import * as schema from './schema.ts'
import type { Database, OpenDatabase } from './database.ts'
import { openPostgres } from './postgres.ts'

const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../migrations', import.meta.url))

// dataDir undefined: in memory (tests)
export async function openPglite(dataDir?: string): Promise<OpenDatabase> {
  if (dataDir) mkdirSync(dataDir, { recursive: true })
  const client = await PGlite.create(dataDir)
  const db = drizzlePglite(client, { schema }) as unknown as Database
  return { db, driver: 'pglite', pglite: client, close: () => client.close() }
}

export async function migrateDatabase(open: OpenDatabase): Promise<void> {
  const config = { migrationsFolder: MIGRATIONS_FOLDER }
  if (open.driver === 'pglite') await migratePglite(open.db as never, config)
  else await migratePostgres(open.db as never, config)
}

// DATABASE_URL set: that server; otherwise PGlite in the data folder.
export async function openConfiguredDatabase(config: { databaseUrl?: string; dataDir: string }): Promise<OpenDatabase> {
  const open = config.databaseUrl ? openPostgres(config.databaseUrl) : await openPglite(`${config.dataDir}/pgdata`)
  await migrateDatabase(open)
  return open
}
