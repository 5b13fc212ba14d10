// Starts what the tests need once per run: a Postgres server, an S3-compatible server (fauxqs)
// and the PyTorch reference fixtures (test/setup/reference.ts). The two servers can be given from
// outside instead (.ci/run starts its own and passes PROMPT_R1_TEST_DATABASE_URL and
// PROMPT_R1_TEST_S3_ENDPOINT). A migrated template database lets each test file clone a fresh
// database in milliseconds.
import postgres from 'postgres'
import { startFauxqs } from 'fauxqs'
import type { TestProject } from 'vitest/node'
import { migrateDatabase } from '../../shared/db/embedded.ts'
import { openPostgres } from '../../shared/db/postgres.ts'
import { findPostgresBin, startCluster } from './postgres-cluster.ts'
import { type ReferenceSetup, setupReference } from './reference.ts'

export const TEMPLATE_DB = 'prompt_r1_template'
export const TEST_BUCKET = 'prompt-r1-test'

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string | null
    postgresMissing: string
    s3Endpoint: string
    reference: ReferenceSetup
  }
}

export default async function setup(project: TestProject) {
  const stops: (() => Promise<void> | void)[] = []
  const required = process.env.CI === 'true'

  let postgresUrl = process.env.PROMPT_R1_TEST_DATABASE_URL ?? null
  let postgresMissing = ''
  if (!postgresUrl) {
    const bin = findPostgresBin()
    if (bin) {
      const cluster = await startCluster(bin)
      stops.push(cluster.stop)
      postgresUrl = cluster.url
    } else {
      postgresMissing = 'no Postgres server: initdb not found under /usr/lib/postgresql (apt-get install -y postgresql) and PROMPT_R1_TEST_DATABASE_URL not set'
      if (required) throw new Error(`CI needs Postgres: ${postgresMissing}`)
    }
  }
  if (postgresUrl) {
    const admin = postgres(postgresUrl, { max: 1, onnotice: () => {} })
    await admin.unsafe(`drop database if exists ${TEMPLATE_DB}`)
    await admin.unsafe(`create database ${TEMPLATE_DB}`)
    await admin.end()
    const template = openPostgres(withDatabase(postgresUrl, TEMPLATE_DB), { maxConnections: 1 })
    await migrateDatabase(template)
    await template.close()
  }

  let s3Endpoint = process.env.PROMPT_R1_TEST_S3_ENDPOINT
  if (!s3Endpoint) {
    const server = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false })
    stops.push(() => server.stop())
    s3Endpoint = `http://127.0.0.1:${server.port}`
  }

  project.provide('postgresUrl', postgresUrl)
  project.provide('postgresMissing', postgresMissing)
  project.provide('s3Endpoint', s3Endpoint)
  project.provide('reference', setupReference())
  return async () => {
    for (const stop of stops.reverse()) await stop()
  }
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}
