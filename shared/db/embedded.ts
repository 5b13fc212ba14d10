// Node-only: the embedded PGlite database (a real Postgres in WASM) and the migrator for both drivers.
import { PGlite } from '@electric-sql/pglite'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as schema from './schema.ts'
import type { Database, OpenDatabase } from './database.ts'
import { ConfigError } from '../config.ts'
import { openPostgres } from './postgres.ts'

const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../migrations', import.meta.url))

// PGlite is one process's database: a second process opening the same folder would corrupt it. The
// folder is taken with a lock file holding the owner's pid; one whose owner is gone is taken over.
function lockDataFolder(dataDir: string): () => void {
  const lock = join(dataDir, 'prompt-r1.lock')
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' })
      const release = () => {
        process.off('exit', release)
        try {
          if (readFileSync(lock, 'utf8') === String(process.pid)) rmSync(lock, { force: true })
        } catch {
          // the folder is gone already (a removed temporary folder): nothing left to release
        }
      }
      process.once('exit', release)
      return release
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const owner = Number(readFileSync(lock, 'utf8'))
    if (owner && owner !== process.pid && isAlive(owner)) {
      // a ConfigError: the entry points print it as the one message it is
      throw new ConfigError(`The database in ${dataDir} is in use by another process (pid ${owner}; \`npm start\`?): ` +
        'stop it first, or use the running platform through its API and dashboard')
    }
    rmSync(lock, { force: true }) // its owner is gone
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

// dataDir undefined: in memory (tests)
export async function openPglite(dataDir?: string): Promise<OpenDatabase> {
  let release = () => {}
  if (dataDir) {
    mkdirSync(dataDir, { recursive: true })
    release = lockDataFolder(dataDir)
  }
  const client = await PGlite.create(dataDir).catch((error) => { release(); throw error })
  const db = drizzlePglite(client, { schema }) as unknown as Database
  return { db, driver: 'pglite', pglite: client, close: async () => { await client.close(); release() } }
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
