// `npm start` as a user runs it: embedded defaults (PGlite in the data folder, a local blob
// folder, the in-process worker in its model thread), the admin key printed on first start only,
// the job API live and answering while the worker is busy.
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { makeTinyCheckpoint } from '../../gpu-worker/engine/tiny.ts'
import { loadConfig } from '../../shared/config.ts'
import { startDeterministicArithmeticEnv } from '../protocol/deterministic-arithmetic-env.ts'
import { freePort } from '../setup/postgres-cluster.ts'

let running: ChildProcess | undefined
afterEach(() => { running?.kill('SIGKILL') })

async function start(env: Record<string, string>): Promise<{ output: () => string; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'platform/embedded.ts'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  running = child
  let output = ''
  child.stdout!.on('data', (d) => { output += d })
  child.stderr!.on('data', (d) => { output += d })
  const deadline = Date.now() + 60_000
  while (!output.includes('listening on')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`npm start failed:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return {
    output: () => output,
    stop: () => new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGTERM') }),
  }
}

describe('npm start', () => {
  it('starts on embedded defaults, prints the URL and a first-start admin key, and runs jobs', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'start-'))
    const port = await freePort()
    const first = await start({ PORT: String(port), PROMPT_R1_DATA_DIR: dataDir, DATABASE_URL: '', S3_BUCKET: '' })
    expect(first.output()).toContain(`listening on http://127.0.0.1:${port}`)
    expect(first.output()).toContain('database: pglite, blob store: local, in-process worker: noop')
    const key = /admin API key \(shown once; store it now\): (pr1-\w+)/.exec(first.output())![1]
    // a fresh platform says where to go from here, offline and online
    expect(first.output()).toContain('What next:')
    expect(first.output()).toContain('"Train the demo agent" on the dashboard\'s jobs page')
    expect(first.output()).toContain('`npm run demo:train`')
    expect(first.output()).toContain('datasets pull train validation')
    const base = `http://127.0.0.1:${port}`
    expect(await (await fetch(`${base}/health`)).json()).toMatchObject({ status: 'ok', database: 'pglite', blob_store: 'local' })
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }
    const job = await (await fetch(`${base}/v1/training/jobs`, { method: 'POST', headers, body: JSON.stringify({ method: { type: 'noop', noop: { steps: 2 } } }) })).json() as any
    let status = job.status
    for (let i = 0; i < 100 && status !== 'succeeded'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      status = ((await (await fetch(`${base}/v1/training/jobs/${job.id}`, { headers })).json()) as any).status
    }
    expect(status).toBe('succeeded')

    // The worker runs in its own thread: while it is busy for seconds at a time, the API answers at once.
    const busy = await (await fetch(`${base}/v1/training/jobs`, { method: 'POST', headers, body: JSON.stringify({ method: { type: 'noop', noop: { steps: 2, step_ms: 0, cpu_ms: 3000 } } }) })).json() as any
    const waits: number[] = []
    for (let done = false; !done;) {
      const started = performance.now()
      const polled = await (await fetch(`${base}/v1/training/jobs/${busy.id}`, { headers })).json() as any
      waits.push(performance.now() - started)
      done = polled.status === 'succeeded'
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(waits.length).toBeGreaterThan(20) // polled all through the job's 6 s of work
    expect(Math.max(...waits)).toBeLessThan(1500) // in the API's thread, each step would hold a poll 3 s
    expect(await first.stop()).toBe(0)
    expect(existsSync(join(dataDir, 'pgdata'))).toBe(true)

    // second start on the same folder: same data, same key, no new key printed
    const second = await start({ PORT: String(port), PROMPT_R1_DATA_DIR: dataDir, DATABASE_URL: '', S3_BUCKET: '' })
    expect(second.output()).not.toContain('admin API key')
    expect(second.output()).not.toContain('What next:')
    const listed = await (await fetch(`${base}/v1/training/jobs`, { headers })).json() as any
    expect(listed.data.map((j: any) => j.id)).toEqual([busy.id, job.id])
    expect(await second.stop()).toBe(0)
  })

  it('stops a second process on the same data folder with a clear message, and takes over a dead one\'s', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'start-lock-'))
    const env = { PROMPT_R1_DATA_DIR: dataDir, DATABASE_URL: '', S3_BUCKET: '' }
    const first = await start({ ...env, PORT: String(await freePort()) })
    const owner = running!
    const second = spawn(process.execPath, ['--import', 'tsx', 'platform/embedded.ts'], { env: { ...process.env, ...env, PORT: String(await freePort()) }, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    second.stdout!.on('data', (d) => { output += d })
    second.stderr!.on('data', (d) => { output += d })
    const code = await new Promise((resolve) => second.once('exit', resolve))
    expect(code).toBe(1)
    expect(output).toContain(`The database in ${dataDir}/pgdata is in use by another process (pid ${owner.pid}`)
    expect(output).not.toContain('    at ') // one message, no stack
    expect(first.output()).toContain('listening on')
    // killed without a chance to clean up: its lock is stale, and the next start takes it over
    owner.kill('SIGKILL')
    await new Promise((resolve) => owner.once('exit', resolve))
    const third = await start({ ...env, PORT: String(await freePort()) })
    expect(await third.stop()).toBe(0)
  })

  it('serves the agent from its model thread, streaming each turn as it happens', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'start-'))
    const agent = join(dataDir, 'agent')
    makeTinyCheckpoint(agent, { seed: 4 })
    const env = await startDeterministicArithmeticEnv()
    try {
      const port = await freePort()
      const server = await start({
        PORT: String(port), PROMPT_R1_DATA_DIR: dataDir, DATABASE_URL: '', S3_BUCKET: '', PROMPT_R1_AGENT_MODEL: agent,
        PROMPT_R1_CACHE: join(dataDir, 'cache'), PROMPT_R1_ENGINE_THREADS: '1', PROMPT_R1_IN_PROCESS_WORKER: 'false',
      })
      const key = /admin API key \(shown once; store it now\): (pr1-\w+)/.exec(server.output())![1]
      const response = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
        method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'prompt-r1-agent', stream: true, max_tokens: 8, messages: [{ role: 'user', content: 'What is 2 + 3?' }], environment: { base_url: env.baseURL, model: 'arith' } }),
      })
      expect(response.status).toBe(200)
      const body = await response.text()
      const steps = body.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)).prompt_r1).filter(Boolean)
      expect(steps[0].type).toBe('agent_turn')
      expect(steps.at(-1)).toMatchObject({ type: 'done' })
      expect(body.trim().endsWith('data: [DONE]')).toBe(true)
      expect(await server.stop()).toBe(0)
    } finally {
      await env.close()
    }
  })

  it('refuses a bad configuration with the variable named', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'platform/embedded.ts'], {
      env: { ...process.env, PORT: 'eighty', PROMPT_R1_ADMIN_KEY: 'short' }, stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stderr.on('data', (d) => { output += d })
    const code = await new Promise((resolve) => child.once('exit', resolve))
    expect(code).toBe(1)
    expect(output).toContain('PORT:')
    expect(output).toContain('PROMPT_R1_ADMIN_KEY: must be at least 16 characters')
  })
})

describe('configuration', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({})
    expect(config).toMatchObject({
      port: 8787, host: '127.0.0.1', dataDir: '.prompt-r1', s3: undefined, databaseUrl: undefined, inProcessWorker: true,
      queue: { leaseMs: 60_000, heartbeatMs: 10_000, maxAttempts: 3, pollMs: 1000 },
      limits: { maxBodyBytes: 1024 * 1024, maxUploadBytes: 100 * 1024 * 1024 },
    })
  })

  it('reads S3 settings and flags', () => {
    const config = loadConfig({
      S3_BUCKET: 'b', S3_ENDPOINT: 'http://127.0.0.1:9000', S3_FORCE_PATH_STYLE: 'true', S3_ACCESS_KEY_ID: 'a', S3_SECRET_ACCESS_KEY: 's',
      PROMPT_R1_IN_PROCESS_WORKER: 'false', DATABASE_URL: 'postgres://u@h/db',
    })
    expect(config.s3).toEqual({ bucket: 'b', endpoint: 'http://127.0.0.1:9000', region: 'us-east-1', forcePathStyle: true, accessKeyId: 'a', secretAccessKey: 's', prefix: '' })
    expect(config.inProcessWorker).toBe(false)
  })

  it.each([
    [{ PORT: '70000' }, 'PORT'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL: must be a postgres:// URL'],
    [{ S3_FORCE_PATH_STYLE: 'yes' }, 'S3_FORCE_PATH_STYLE'],
    [{ PROMPT_R1_LEASE_SECONDS: '5', PROMPT_R1_HEARTBEAT_SECONDS: '5' }, 'PROMPT_R1_HEARTBEAT_SECONDS: must be shorter'],
  ])('refuses %j', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message)
  })
})
