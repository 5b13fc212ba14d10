// A throwaway Postgres cluster for tests: initdb with trust auth on 127.0.0.1, a free port,
// fsync off. Used by the test setup when PROMPT_R1_TEST_DATABASE_URL does not name a server.
import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export function findPostgresBin(): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a))
  return versions.length ? join(root, versions[0], 'bin') : undefined
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

export interface Cluster {
  url: string
  stop: () => void
  /** a signal to the server and every backend (SIGSTOP: a stalled server; SIGCONT: it goes on) */
  signal: (signal: 'SIGSTOP' | 'SIGCONT') => void
  /** pg_ctl stop (fast: connections are cut) and start again, on the same port and data */
  down: () => void
  up: () => void
}

export async function startCluster(bin: string): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'prompt-r1-pg-'))
  const port = await freePort()
  // initdb refuses to run as root: run the server as the postgres user then
  const asRoot = process.getuid?.() === 0
  const run = (args: string[]) => {
    const command = [join(bin, args[0]), ...args.slice(1)]
    const result = asRoot
      ? spawnSync('su', ['postgres', '-s', '/bin/sh', '-c', command.map((a) => `'${a}'`).join(' ')], { encoding: 'utf8' })
      : spawnSync(command[0], command.slice(1), { encoding: 'utf8' })
    if (result.status !== 0) throw new Error(`${args[0]} failed: ${result.stderr || result.stdout}`)
  }
  if (asRoot) {
    chmodSync(dir, 0o755)
    chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString()), Number(execFileSync('id', ['-g', 'postgres']).toString()))
  }
  run(['initdb', '-D', join(dir, 'data'), '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-instructions'])
  const up = () => run(['pg_ctl', '-D', join(dir, 'data'), '-l', join(dir, 'log'), '-w', 'start', '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300`])
  up()
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    up,
    down: () => run(['pg_ctl', '-D', join(dir, 'data'), '-m', 'fast', '-w', 'stop']),
    signal: (signal) => {
      const postmaster = Number(readFileSync(join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0])
      const children = spawnSync('pgrep', ['-P', String(postmaster)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number)
      for (const pid of [postmaster, ...children]) process.kill(pid, signal)
    },
    stop: () => {
      try { run(['pg_ctl', '-D', join(dir, 'data'), '-m', 'immediate', 'stop']) } finally { rmSync(dir, { recursive: true, force: true }) }
    },
  }
}
