// What the browser tests run against: the platform as `npm start` runs it (the edge app on a real
// port, a job worker with the project's runners, the agent from a tiny checkpoint, and a tiny agent
// to train: the arithmetic task's, whose compact tokenizer makes a GRPO step take a fraction of a
// second) over a fresh Postgres database, a local blob store and the deterministic arithmetic environment; and headless
// Debian Chromium driven by playwright-core (never a downloaded browser).
import { serve } from '@hono/node-server'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Browser, type Page, chromium } from 'playwright-core'
import { describe } from 'vitest'
import { createApp } from '../../edge/app.ts'
import { LocalAgents } from '../../gpu-worker/agent.ts'
import { makeTinyCheckpoint } from '../../gpu-worker/engine/tiny.ts'
import { createEvalRunner } from '../../gpu-worker/runners/eval.ts'
import { runNoopJob } from '../../gpu-worker/runners/noop.ts'
import { trainRunner } from '../../gpu-worker/runners/train.ts'
import { TEST_ENGINE, TEST_MODEL_FOLDERS } from '../helpers/engine.ts'
import { makeArithmeticAgent } from '../../gpu-worker/training/arithmetic-task.ts'
import { JobWorker } from '../../gpu-worker/worker.ts'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import { loadConfig } from '../../shared/config.ts'
import { createApiKey } from '../../shared/db/api-keys.ts'
import type { OpenDatabase } from '../../shared/db/database.ts'
import { type DeterministicArithmeticEnv, startDeterministicArithmeticEnv } from '../protocol/deterministic-arithmetic-env.ts'
import { describePostgres, freshPostgres } from '../helpers/databases.ts'

export const CHROMIUM = '/usr/bin/chromium'
export const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'browser')

/**
 * describe() when Chromium (and Postgres, unless the tests run on `npm start`'s PGlite) are here; a
 * printed skip otherwise, and a failure in CI.
 */
export function describeBrowser(name: string, body: () => void, needs: { postgres: boolean } = { postgres: true }) {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing; CI must install it (apt-get install -y chromium)`)
    console.warn(`SKIPPED "${name}": no Chromium at ${CHROMIUM} (apt-get install -y chromium)`)
    describe.skip(name, body)
    return
  }
  if (needs.postgres) describePostgres(name, body)
  else describe(name, body)
}

export interface Platform {
  base: string
  key: string
  database: OpenDatabase
  blobs: LocalBlobStore
  env: DeterministicArithmeticEnv
  agentName: string
  agentDir: string
  /** A model folder to train from the dashboard's form. */
  traineeDir: string
  close(): Promise<void>
}

export async function startPlatform(): Promise<Platform> {
  const dir = mkdtempSync(join(tmpdir(), 'browser-'))
  const agentDir = join(dir, 'agent')
  makeTinyCheckpoint(agentDir, { seed: 5 })
  const traineeDir = join(dir, 'trainee')
  makeArithmeticAgent(traineeDir)
  const database = await freshPostgres()
  const blobs = new LocalBlobStore(join(dir, 'blobs'))
  const env = await startDeterministicArithmeticEnv()
  const config = loadConfig({
    PROMPT_R1_ALLOW_LOOPBACK_ENVIRONMENT: 'true', PROMPT_R1_POLL_MS: '50', PROMPT_R1_HEARTBEAT_SECONDS: '1', PROMPT_R1_LEASE_SECONDS: '5',
    PROMPT_R1_MODEL_FOLDERS: TEST_MODEL_FOLDERS.join(':'),
  })
  const cacheDir = join(dir, 'cache')
  // one engine thread: the machine's other core serves the browser and the API
  const runners = {
    noop: runNoopJob,
    eval: createEvalRunner({ engine: TEST_ENGINE, cacheDir, allowLoopbackEnvironment: true, modelFolders: TEST_MODEL_FOLDERS, similarityModel: 'hashed' }),
    train: trainRunner({ engine: TEST_ENGINE, workDir: join(dir, 'train'), allowLoopbackEnvironment: true, modelFolders: TEST_MODEL_FOLDERS }),
  }
  const worker = new JobWorker({ db: database.db, blobs, runners, ...config.queue, log: () => {} })
  await worker.start()
  const agentName = 'tiny-agent'
  const agents = new LocalAgents({
    db: database.db, blobs, allowLoopbackEnvironment: true, engine: TEST_ENGINE, cacheDir, defaultModel: { name: agentName, source: agentDir },
  })
  const app = createApp({ db: database.db, databaseDriver: 'postgres', blobs, config, agents, dispatcher: { jobQueued: () => worker.wake() } })
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' })
  await new Promise((resolve) => server.once('listening', resolve))
  const key = (await createApiKey(database.db, { projectId: 'browser', name: 'browser tests', isAdmin: false })).secret
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, key, database, blobs, env, agentName, agentDir, traineeDir,
    async close() {
      server.close()
      await worker.stop()
      await env.close()
      await database.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-gpu', '--no-first-run', '--disable-component-update', '--disable-sync'],
  })
}

/** Page errors and console errors (a blocked script, a CSP violation); failed requests are the API's answers, expected in tests of errors. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = []
  page.on('pageerror', (error) => errors.push(`page error: ${error.stack}`))
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) errors.push(`console: ${message.text()}`)
  })
  return errors
}

/**
 * What makes the page wider than the window (`width`): empty when nothing does, else the view and
 * the deepest elements that stick out, to say what to fix.
 */
export async function sidewaysScroll(page: Page, width: number, view: string): Promise<string[]> {
  const wide = await page.evaluate(() => document.documentElement.scrollWidth)
  if (wide <= width) return []
  const culprits = await page.evaluate((w) => [...document.querySelectorAll('main *')]
    .filter((e) => e.getBoundingClientRect().right > w + 1 && ![...e.children].some((c) => c.getBoundingClientRect().right > w + 1))
    .slice(0, 3).map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}${e.className && typeof e.className === 'string' ? `.${e.className.split(' ').join('.')}` : ''}`), width)
  return [`${view} at ${width} px is ${wide} px wide (${culprits.join(', ')})`]
}

export async function screenshot(page: Page, name: string) {
  mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true })
}
