// Databases for tests: a fresh Postgres database per call (cloned from the migrated template the
// global setup made) and one in-memory PGlite per test file (it costs seconds and ~800 MB).
import postgres from 'postgres'
import { describe, inject } from 'vitest'
import type { OpenDatabase } from '../../shared/db/database.ts'
import { migrateDatabase, openPglite } from '../../shared/db/embedded.ts'
import { openPostgres } from '../../shared/db/postgres.ts'
import { randomToken } from '../../shared/ids.ts'
import { TEMPLATE_DB, withDatabase } from '../setup/global.ts'

export const postgresUrl = inject('postgresUrl')

// describe() on a Postgres server, or a skip that says why (never in CI: setup fails there)
export function describePostgres(name: string, body: () => void) {
  if (!postgresUrl) {
    console.warn(`SKIPPED "${name}": ${inject('postgresMissing')}`)
    describe.skip(name, body)
  } else {
    describe(name, body)
  }
}

export async function freshPostgresUrl(): Promise<string> {
  const name = `t_${randomToken(12).toLowerCase()}`
  const admin = postgres(postgresUrl!, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${name} template ${TEMPLATE_DB}`)
  await admin.end()
  return withDatabase(postgresUrl!, name)
}

export async function freshPostgres(options: { maxConnections?: number } = {}): Promise<OpenDatabase> {
  return openPostgres(await freshPostgresUrl(), options)
}

let pglite: Promise<OpenDatabase> | undefined
export function filePglite(): Promise<OpenDatabase> {
  pglite ??= openPglite().then(async (open) => {
    await migrateDatabase(open)
    return open
  })
  return pglite
}
