// The container images and the compose stack, checked where no container engine runs: every path
// gpu-worker/Dockerfile copies exists (and is not ignored), every variable the Dockerfile and
// compose.yaml set is one the code reads, the commands they run exist, and the worker image's
// entrypoint and health check run as plain processes from a folder holding only what the image copies.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, statSync, symlinkSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { describePostgres, freshPostgresUrl } from '../helpers/databases.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const dockerfile = readFileSync(join(ROOT, 'gpu-worker/Dockerfile'), 'utf8')
// continuation lines joined, comments dropped
const instructions = dockerfile.replace(/\\\n\s*/g, ' ').split('\n').filter((line) => line.trim() && !line.startsWith('#'))

interface Stage { name: string; copies: string[]; env: Record<string, string>; cmd: string[] | null; health: string[] | null }
const stages: Stage[] = []
for (const line of instructions) {
  const [op, ...rest] = line.trim().split(/\s+/)
  if (op === 'FROM') stages.push({ name: rest.at(-1)!, copies: [], env: {}, cmd: null, health: null })
  const stage = stages.at(-1)!
  if (op === 'COPY' && !rest[0].startsWith('--from')) stage.copies.push(...rest.slice(0, -1))
  if (op === 'ENV') for (const [, k, v] of rest.join(' ').matchAll(/([A-Z_0-9]+)=(\S+)/g)) stage.env[k] = v
  if (op === 'CMD') stage.cmd = JSON.parse(rest.join(' '))
  if (op === 'HEALTHCHECK') stage.health = JSON.parse(line.slice(line.indexOf('CMD') + 3))
}
const stage = (name: string) => stages.find((s) => s.name === name)!

// every file of the code the images run (the variable names they read are in it)
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (name === 'node_modules' || name === 'build') return []
    return statSync(path).isDirectory() ? sources(path) : /\.(ts|tsx|mjs)$/.test(name) ? [path] : []
  })
}
const code = ['shared', 'gpu-worker', 'edge', 'platform', 'datasets'].flatMap((d) => sources(join(ROOT, d))).map((f) => readFileSync(f, 'utf8')).join('\n')
const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'))

describe('gpu-worker/Dockerfile and compose.yaml', () => {
  it('copy only paths that exist and that .dockerignore lets through', () => {
    expect(stages.map((s) => s.name)).toEqual(['deps', 'edge', 'worker'])
    for (const { copies } of stages) {
      for (const path of copies) {
        expect(existsSync(join(ROOT, path)), path).toBe(true)
        expect(ignored.filter((pattern) => path === pattern || path.startsWith(`${pattern}/`)), path).toEqual([])
      }
    }
    expect(stage('worker').copies).toEqual(expect.arrayContaining(['shared', 'datasets', 'gpu-worker', 'migrations', 'package.json']))
  })

  it('set only variables the code reads, and run commands that exist', () => {
    const compose = readFileSync(join(ROOT, 'compose.yaml'), 'utf8')
    // the platform's own variables (the Postgres and MinIO images read theirs)
    const composeVars = [...compose.matchAll(/^\s+([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]).filter((v) => !/^(POSTGRES|MINIO)_/.test(v))
    const set = [...new Set([...stages.flatMap((s) => Object.keys(s.env)), ...composeVars])]
    expect(set.length).toBeGreaterThan(10)
    for (const name of set) expect(code.includes(name), `${name} is read nowhere`).toBe(true)
    const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts
    // what `npm run worker` and `npm start` run (npm itself as PID 1 would not pass SIGTERM on)
    expect(`node_modules/.bin/${scripts.worker}`).toBe(stage('worker').cmd!.join(' '))
    expect(`node_modules/.bin/${scripts.start}`).toBe(stage('edge').cmd!.join(' '))
    expect(existsSync(join(ROOT, stage('worker').health![1]))).toBe(true)
    expect(dockerfile).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install\.js/)
    expect(dockerfile).toMatch(/^FROM nvidia\/cuda:12\.[0-9.]+-cudnn-runtime-ubuntu24\.04 AS worker$/m)
    expect(dockerfile).toMatch(/^USER prompt-r1$/m)
  })
})

describePostgres('the worker image, run as plain processes', () => {
  // a folder holding only what the worker stage copies, with this checkout's node_modules and native module
  function imageFolder(): string {
    const app = mkdtempSync(join(tmpdir(), 'worker-image-'))
    for (const path of stage('worker').copies) {
      cpSync(join(ROOT, path), join(app, path), { recursive: true, filter: (src) => !relative(ROOT, src).startsWith('gpu-worker/engine/native/build') })
    }
    symlinkSync(join(ROOT, 'node_modules'), join(app, 'node_modules'))
    symlinkSync(join(ROOT, 'gpu-worker/engine/native/build'), join(app, 'gpu-worker/engine/native/build'))
    return app
  }
  // the image's variables, on this machine's CPU (no CUDA here) and its own folders
  const env = (app: string, extra: Record<string, string>) => ({
    PATH: process.env.PATH!, HOME: app, ...stage('worker').env, PROMPT_R1_ENGINE_PROVIDER: 'cpu',
    PROMPT_R1_CACHE: join(app, 'cache'), PROMPT_R1_DATA_DIR: join(app, 'data'), ...extra,
  })

  it('starts the worker with the image\'s command and stops it on SIGTERM, and its health check says healthy or why not', async () => {
    const app = imageFolder()
    const DATABASE_URL = await freshPostgresUrl()
    const worker: ChildProcess = spawn(stage('worker').cmd![0], stage('worker').cmd!.slice(1), { cwd: app, env: env(app, { DATABASE_URL }) })
    let output = ''
    worker.stdout!.on('data', (d) => { output += d })
    worker.stderr!.on('data', (d) => { output += d })
    const exited = new Promise<number | null>((resolve) => worker.once('exit', (code) => resolve(code)))
    const deadline = Date.now() + 60_000
    while (!/worker \S+ polling for /.test(output) && Date.now() < deadline && worker.exitCode === null) await new Promise((r) => setTimeout(r, 200))
    expect(output).toMatch(/worker \S+ polling for .*eval.*train|worker \S+ polling for .*train.*eval/)
    // the signal a container stop sends: the worker stops cleanly
    worker.kill('SIGTERM')
    expect(await exited).toBe(0)

    const [command, ...args] = stage('worker').health!
    const healthy = spawnSync(command, args, { cwd: app, env: env(app, { DATABASE_URL }), encoding: 'utf8' })
    expect(healthy.stdout.trim(), healthy.stderr).toBe('healthy')
    expect(healthy.status).toBe(0)
    const port = await new Promise<number>((resolve) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)) }) })
    const down = spawnSync(command, args, { cwd: app, env: env(app, { DATABASE_URL: `postgres://u:secret-password@127.0.0.1:${port}/x` }), encoding: 'utf8' })
    expect(down.status).toBe(1)
    expect(down.stderr).toMatch(/^unhealthy: the database does not answer: .*ECONNREFUSED/)
    expect(down.stderr).not.toContain('secret-password')
  }, 120_000)
})
