// The edge hop of a chat: streaming chats (one at a time, then 64 at once) through the edge (the Node edge app with
// its GPU-worker dispatch, API keys and run records on a Postgres server) against the same chats
// sent straight to the worker's inference endpoint. The worker is the real endpoint
// (gpu-worker/inference-server.ts) with a scripted agent (five steps 20 ms apart), so the
// difference is the hop alone: auth, worker choice, the proxy of every line, the run's record.
// Edge, worker and load each run in a process of their own; rounds alternate direct and edge.
// Besides latency it reports the CPU time the edge and the worker spend per chat: on these 2 shared
// cores 64 chats at once queue behind each other's CPU, so the added latency under load is mostly
// the edge's CPU per chat times the queue. Writes bench/results/edge-hop.md. Not a test.
//   npm run bench:edge [-- --profile DIR]   (DIR: the edge's CPU profile, for Chrome's DevTools)
import { type ChildProcess, spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { serve } from '@hono/node-server'
import { AGENT_RUN_PATH, type AgentRun } from '../shared/agents.ts'
import { loadConfig } from '../shared/config.ts'
import { createApiKey } from '../shared/db/api-keys.ts'
import { migrateDatabase } from '../shared/db/embedded.ts'
import { openPostgres } from '../shared/db/postgres.ts'
import { advertiseInference } from '../shared/db/workers.ts'
import { randomToken } from '../shared/ids.ts'
import { findPostgresBin, freePort, startCluster } from '../test/setup/postgres-cluster.ts'

const { values } = parseArgs({ options: { role: { type: 'string' }, port: { type: 'string' }, database: { type: 'string' }, token: { type: 'string' }, profile: { type: 'string' } } })
const PLAN = [{ concurrency: 1, rounds: 40 }, { concurrency: 64, rounds: 10 }]
const STEPS = 5
const STEP_MS = 20
const MODEL = 'scripted-agent'

async function worker() {
  const { inferenceApp } = await import('../gpu-worker/inference-server.ts')
  const database = openPostgres(values.database!, { maxConnections: 2 })
  const slots = 1024
  const app = inferenceApp({
    token: values.token!, slots, isStopping: () => false,
    agents: {
      held: () => [MODEL],
      models: async () => [{ id: MODEL, created: 0, ownedBy: 'bench' }],
      hasModel: async (_project, model) => model === MODEL,
      run: async (request): Promise<AgentRun> => {
        request.onAccepted?.()
        for (let turn = 1; turn <= STEPS; turn++) {
          await new Promise((resolve) => setTimeout(resolve, STEP_MS))
          request.onEvent({ type: 'agent_turn', turn, think: 'thinking '.repeat(20), prompt: turn < STEPS ? 'a prompt for the large LLM' : null, answer: turn === STEPS ? '42' : null, error: null })
        }
        return { answer: '42', endReason: 'answer', turns: [], usage: { agent: { promptTokens: 100, completionTokens: 50 }, environment: { promptTokens: 0, completionTokens: 0 } }, timings: { totalMs: STEPS * STEP_MS, environmentMs: 0 } }
      },
    },
  })
  serve({ fetch: app.fetch, port: Number(values.port), hostname: '127.0.0.1' }, () => console.log('ready'))
  reportCpuOnRequest()
  await advertiseInference(database.db, 'bench-worker', { address: `http://127.0.0.1:${values.port}`, models: [MODEL], slots, freeSlots: slots, provider: 'cpu' })
}

async function edge() {
  const { createApp } = await import('../edge/app.ts')
  const { RemoteAgents } = await import('../edge/remote-agents.ts')
  const { LocalBlobStore } = await import('../shared/blob/local.ts')
  const config = loadConfig({ DATABASE_URL: values.database, PROMPT_R1_CHAT_AGENTS: 'workers', PROMPT_R1_WORKER_TOKEN: values.token, PROMPT_R1_IN_PROCESS_WORKER: 'false' })
  // the edge's pool as under `npm start` with DATABASE_URL
  const database = openPostgres(values.database!)
  const agents = new RemoteAgents({ db: database.db, token: values.token!, staleMs: 3_600_000 })
  const app = createApp({ db: database.db, databaseDriver: 'postgres', blobs: new LocalBlobStore(join(process.env.TMPDIR ?? '/tmp', 'edge-hop-blobs')), config, agents, dispatcher: { jobQueued: () => {} } })
  serve({ fetch: app.fetch, port: Number(values.port), hostname: '127.0.0.1' }, () => console.log('ready'))
  reportCpuOnRequest()
  // a normal exit, so that --cpu-prof writes its profile
  process.once('SIGTERM', () => process.exit(0))
}

/** A child answers each message from the bench with the CPU time it has used so far, in ms. */
function reportCpuOnRequest() {
  process.on('message', () => {
    const { user, system } = process.cpuUsage()
    process.send!((user + system) / 1000)
  })
}

function cpuMs(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => { child.once('message', (ms) => resolve(ms as number)); child.send('cpu') })
}

function child(role: string, args: string[], nodeFlags: string[] = []): Promise<ChildProcess> {
  const process_ = spawn(process.execPath, [...nodeFlags, ...process.execArgv, fileURLToPath(import.meta.url), '--role', role, ...args], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] })
  return new Promise((resolve, reject) => {
    process_.stdout!.on('data', (d) => { if (String(d).includes('ready')) resolve(process_) })
    process_.once('exit', (code) => reject(new Error(`bench/edge-hop: the ${role} exited (${code})`)))
  })
}

interface Sample { firstMs: number; doneMs: number; ok: boolean }

/** One chat: time to its first step and to its end, read line by line as a client reads them. */
async function chat(url: string, init: RequestInit, ends: (text: string) => boolean, firstStep: (text: string) => boolean): Promise<Sample> {
  const started = performance.now()
  let firstMs = NaN
  try {
    const response = await fetch(url, init)
    if (!response.ok) { await response.body?.cancel(); return { firstMs, doneMs: NaN, ok: false } }
    let text = ''
    const decoder = new TextDecoder()
    for await (const chunk of response.body!) {
      text += decoder.decode(chunk, { stream: true })
      if (Number.isNaN(firstMs) && firstStep(text)) firstMs = performance.now() - started
    }
    return { firstMs, doneMs: performance.now() - started, ok: ends(text) }
  } catch {
    return { firstMs, doneMs: NaN, ok: false }
  }
}

const percentile = (xs: number[], p: number) => {
  const sorted = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

async function main() {
  const bin = process.env.DATABASE_URL ? undefined : findPostgresBin()
  if (!process.env.DATABASE_URL && !bin) throw new Error('bench/edge-hop needs a Postgres server: DATABASE_URL, or the Postgres binaries (apt-get install postgresql)')
  const cluster = bin ? await startCluster(bin) : undefined
  const url = process.env.DATABASE_URL ?? cluster!.url
  const children: ChildProcess[] = []
  try {
    const database = openPostgres(url, { maxConnections: 1 })
    await migrateDatabase(database)
    const key = (await createApiKey(database.db, { projectId: 'bench', name: 'bench', isAdmin: false })).secret
    await database.close()
    const token = randomToken(40)
    const [workerPort, edgePort] = [await freePort(), await freePort()]
    const workerProcess = await child('worker', ['--port', String(workerPort), '--database', url, '--token', token])
    const edgeProcess = await child('edge', ['--port', String(edgePort), '--database', url, '--token', token],
      values.profile ? ['--cpu-prof', `--cpu-prof-dir=${values.profile}`] : [])
    children.push(workerProcess, edgeProcess)
    const load = loadavg()[0]

    const question = (n: number) => ({ projectId: 'bench', model: MODEL, question: `question ${n}`, environment: { baseURL: 'http://127.0.0.1:9/v1', model: 'm', apiKey: 'unused' }, protocol: 'training', sampling: {} })
    const direct = (n: number) => chat(`http://127.0.0.1:${workerPort}${AGENT_RUN_PATH}`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(question(n)),
    }, (text) => text.includes('"run":'), (text) => text.includes('"event":'))
    const viaEdge = (n: number) => chat(`http://127.0.0.1:${edgePort}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, stream: true, messages: [{ role: 'user', content: `question ${n}` }], environment: { base_url: 'https://llm.example.com/v1', model: 'm' } }),
    }, (text) => text.includes('"type":"done"') && text.trim().endsWith('data: [DONE]'), (text) => text.includes('"prompt_r1":'))

    const rows: string[] = []
    let errors = 0
    for (const { concurrency, rounds } of PLAN) {
      const samples = { direct: [] as Sample[], edge: [] as Sample[] }
      const cpu = { workerDirect: 0, workerEdge: 0, edge: 0 }
      const round = async (send: (n: number) => Promise<Sample>, into: Sample[], first: number) => {
        into.push(...await Promise.all(Array.from({ length: concurrency }, (_, i) => send(first + i))))
      }
      // a warm-up round each, not counted
      await round(direct, [], 0)
      await round(viaEdge, [], 0)
      for (let r = 0; r < rounds; r++) {
        let worker0 = await cpuMs(workerProcess)
        await round(direct, samples.direct, r * concurrency)
        cpu.workerDirect += await cpuMs(workerProcess) - worker0
        worker0 = await cpuMs(workerProcess)
        const edge0 = await cpuMs(edgeProcess)
        await round(viaEdge, samples.edge, r * concurrency)
        cpu.edge += await cpuMs(edgeProcess) - edge0
        cpu.workerEdge += await cpuMs(workerProcess) - worker0
      }
      const chats = rounds * concurrency
      const stat = (which: Sample[], field: 'firstMs' | 'doneMs', p: number) => percentile(which.map((s) => s[field]), p)
      const failed = (which: Sample[]) => which.filter((s) => !s.ok).length
      errors += failed(samples.direct) + failed(samples.edge)
      for (const [label, field] of [['first step', 'firstMs'], ['end of the answer', 'doneMs']] as const) {
        const [d50, d95, e50, e95] = [stat(samples.direct, field, 50), stat(samples.direct, field, 95), stat(samples.edge, field, 50), stat(samples.edge, field, 95)]
        rows.push(`| ${concurrency} | ${label} | ${d50.toFixed(1)} / ${d95.toFixed(1)} ms | ${e50.toFixed(1)} / ${e95.toFixed(1)} ms | ${(e50 - d50).toFixed(1)} ms | ${(e95 - d95).toFixed(1)} ms | `
          + (field === 'firstMs'
            ? `${(cpu.edge / chats).toFixed(2)} ms | ${(cpu.workerDirect / chats).toFixed(2)} / ${(cpu.workerEdge / chats).toFixed(2)} ms | ${failed(samples.direct)} / ${failed(samples.edge)} |`
            : '| | |'))
      }
    }
    const table = [
      `### edge hop (${new Date().toISOString().slice(0, 10)})`,
      '',
      `Streaming chats one at a time (${PLAN[0].rounds} rounds) and ${PLAN[1].concurrency} at once (${PLAN[1].rounds} rounds), each after a warm-up round, rounds alternating: straight to the worker's inference endpoint (NDJSON) `
      + `and through the Node edge (POST /v1/chat/completions, SSE: API key check, worker choice from the workers table, every line proxied, the run recorded). `
      + `The worker is gpu-worker/inference-server.ts with a scripted agent (${STEPS} steps ${STEP_MS} ms apart); the edge, the worker, the clients and Postgres ${cluster ? '(a throwaway local cluster)' : '(DATABASE_URL)'} each in a process of their own, `
      + `all on the same ${cpus().length} cores (${cpus()[0].model}); load average at start ${load.toFixed(1)}. CPU per chat: user + system time of the process over the rounds, divided by the chats. Goal: < 5 ms p50 added, 0 errors.`,
      '',
      '| chats at once | to the | straight to the worker, p50 / p95 | through the edge, p50 / p95 | added, p50 | added, p95 | edge CPU per chat | worker CPU per chat, straight / through the edge | errors, straight / edge |',
      '|---|---|---|---|---|---|---|---|---|',
      ...rows,
      '',
    ].join('\n')
    writeFileSync(join(import.meta.dirname, 'results', 'edge-hop.md'), table)
    console.log(table)
    if (errors > 0) process.exitCode = 1
  } finally {
    for (const c of children) c.kill(values.profile ? 'SIGTERM' : 'SIGKILL')
    cluster?.stop()
  }
}

if (values.role === 'worker') await worker()
else if (values.role === 'edge') await edge()
else await main()
