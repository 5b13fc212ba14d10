// The edge hop of a chat: streaming chats through the edge (the Node edge app with its GPU-worker
// dispatch, API keys and run records on a Postgres server) against the same chats sent straight to
// the worker's inference endpoint. The worker is the real endpoint (gpu-worker/inference-server.ts)
// with a scripted agent (five steps), so the difference is the hop alone: auth, worker choice, the
// proxy of every line, the run's record. Edge, worker and load each run in a process of their own.
// Three loads: one chat at a time and 64 arriving at once (steps 20 ms apart, rounds alternating
// direct and edge), then 64 chats in flight all the time, paced like a real agent (steps 500 ms
// apart, each client starting its next chat when one ends, the first starts spread over one chat).
// Besides latency it reports the CPU time the edge and the worker spend per chat: on these 2 shared
// cores a burst of 64 queues behind the edge's CPU per chat, so the added latency of the burst is
// mostly that CPU times the queue. Writes bench/results/edge-hop.md. Not a test.
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
// rounds: all of a round's chats start together; chatsEach: each of `concurrency` clients runs that
// many chats one after the other (the load of many users), in two blocks a side, alternating
type Load = { concurrency: number; stepMs: number } & ({ rounds: number } | { chatsEach: number })
const PLAN: Load[] = [
  { concurrency: 1, stepMs: 20, rounds: 40 },
  { concurrency: 64, stepMs: 20, rounds: 10 },
  { concurrency: 64, stepMs: 500, chatsEach: 4 },
]
const STEPS = 5
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
        // the question names the pace: "<n> every <ms> ms"
        const stepMs = Number(/every (\d+) ms/.exec(request.question)![1])
        for (let turn = 1; turn <= STEPS; turn++) {
          await new Promise((resolve) => setTimeout(resolve, stepMs))
          request.onEvent({ type: 'agent_turn', turn, think: 'thinking '.repeat(20), prompt: turn < STEPS ? 'a prompt for the large LLM' : null, answer: turn === STEPS ? '42' : null, error: null })
        }
        return { answer: '42', endReason: 'answer', turns: [], usage: { agent: { promptTokens: 100, completionTokens: 50 }, environment: { promptTokens: 0, completionTokens: 0 } }, timings: { totalMs: STEPS * stepMs, environmentMs: 0 } }
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

interface Sample { firstMs: number; answerMs: number; doneMs: number; ok: boolean }

/** One chat: time to its first step, to its answer and to its end, read as a client reads them. */
async function chat(url: string, init: RequestInit, marks: { first: string; answer: string; end: (text: string) => boolean }): Promise<Sample> {
  const started = performance.now()
  let [firstMs, answerMs] = [NaN, NaN]
  try {
    const response = await fetch(url, init)
    if (!response.ok) { await response.body?.cancel(); return { firstMs, answerMs, doneMs: NaN, ok: false } }
    let text = ''
    const decoder = new TextDecoder()
    for await (const chunk of response.body!) {
      text += decoder.decode(chunk, { stream: true })
      if (Number.isNaN(firstMs) && text.includes(marks.first)) firstMs = performance.now() - started
      if (Number.isNaN(answerMs) && text.includes(marks.answer)) answerMs = performance.now() - started
    }
    return { firstMs, answerMs, doneMs: performance.now() - started, ok: marks.end(text) }
  } catch {
    return { firstMs, answerMs, doneMs: NaN, ok: false }
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

    const question = (n: number, stepMs: number) => ({ projectId: 'bench', model: MODEL, question: `${n} every ${stepMs} ms`, environment: { baseURL: 'http://127.0.0.1:9/v1', model: 'm', apiKey: 'unused' }, protocol: 'training', sampling: {} })
    const direct = (n: number, stepMs: number) => chat(`http://127.0.0.1:${workerPort}${AGENT_RUN_PATH}`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(question(n, stepMs)),
    }, { first: '"event":', answer: '"run":', end: (text) => text.includes('"run":') })
    const viaEdge = (n: number, stepMs: number) => chat(`http://127.0.0.1:${edgePort}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, stream: true, messages: [{ role: 'user', content: question(n, stepMs).question }], environment: { base_url: 'https://llm.example.com/v1', model: 'm' } }),
    }, { first: '"prompt_r1":', answer: '"content":"42"', end: (text) => text.includes('"type":"done"') && text.trim().endsWith('data: [DONE]') })
    type Send = typeof direct

    const rows: string[] = []
    let errors = 0
    let n = 0
    for (const phase of PLAN) {
      const { concurrency, stepMs } = phase
      const samples = { direct: [] as Sample[], edge: [] as Sample[] }
      const cpu = { workerDirect: 0, workerEdge: 0, edge: 0 }
      const together = async (send: Send, into: Sample[]) => {
        into.push(...await Promise.all(Array.from({ length: concurrency }, () => send(n++, stepMs))))
      }
      const inFlight = async (send: Send, into: Sample[], chatsEach: number) => {
        await Promise.all(Array.from({ length: concurrency }, async (_, client) => {
          await new Promise((resolve) => setTimeout(resolve, (client * STEPS * stepMs) / concurrency))
          for (let k = 0; k < chatsEach; k++) into.push(await send(n++, stepMs))
        }))
      }
      const block = (send: Send, into: Sample[]) => ('rounds' in phase ? together(send, into) : inFlight(send, into, phase.chatsEach))
      // a warm-up round each, not counted
      await together(direct, [])
      await together(viaEdge, [])
      for (let r = 0; r < ('rounds' in phase ? phase.rounds : 2); r++) {
        let worker0 = await cpuMs(workerProcess)
        await block(direct, samples.direct)
        cpu.workerDirect += await cpuMs(workerProcess) - worker0
        worker0 = await cpuMs(workerProcess)
        const edge0 = await cpuMs(edgeProcess)
        await block(viaEdge, samples.edge)
        cpu.edge += await cpuMs(edgeProcess) - edge0
        cpu.workerEdge += await cpuMs(workerProcess) - worker0
      }
      const chats = samples.edge.length
      const stat = (which: Sample[], field: 'firstMs' | 'answerMs' | 'doneMs', p: number) => percentile(which.map((s) => s[field]), p)
      const failed = (which: Sample[]) => which.filter((s) => !s.ok).length
      errors += failed(samples.direct) + failed(samples.edge)
      const load = concurrency === 1 ? 'one at a time' : 'rounds' in phase ? `${concurrency} at once` : `${concurrency} in flight`
      for (const [label, field] of [['first step', 'firstMs'], ['answer', 'answerMs'], ['end of the stream', 'doneMs']] as const) {
        const [d50, d95, e50, e95] = [stat(samples.direct, field, 50), stat(samples.direct, field, 95), stat(samples.edge, field, 50), stat(samples.edge, field, 95)]
        rows.push(`| ${load} | ${stepMs} ms | ${label} | ${d50.toFixed(1)} / ${d95.toFixed(1)} ms | ${e50.toFixed(1)} / ${e95.toFixed(1)} ms | ${(e50 - d50).toFixed(1)} ms | ${(e95 - d95).toFixed(1)} ms | `
          + (field === 'firstMs'
            ? `${chats} | ${(cpu.edge / chats).toFixed(2)} ms | ${(cpu.workerDirect / samples.direct.length).toFixed(2)} / ${(cpu.workerEdge / chats).toFixed(2)} ms | ${failed(samples.direct)} / ${failed(samples.edge)} |`
            : '| | | |'))
      }
    }
    const [one, burst, paced] = PLAN
    const table = [
      `### edge hop (${new Date().toISOString().slice(0, 10)})`,
      '',
      `Streaming chats straight to the worker's inference endpoint (NDJSON) and through the Node edge (POST /v1/chat/completions, SSE: API key check, worker choice from the workers table, every line proxied, the run recorded). `
      + `The worker is gpu-worker/inference-server.ts with a scripted agent (${STEPS} steps); the edge, the worker, the clients and Postgres ${cluster ? '(a throwaway local cluster)' : '(DATABASE_URL)'} each in a process of their own, `
      + `all on the same ${cpus().length} cores (${cpus()[0].model}); load average at start ${load.toFixed(1)}. Loads: one chat at a time (${'rounds' in one ? one.rounds : 0} rounds); ${burst.concurrency} chats arriving at once (${'rounds' in burst ? burst.rounds : 0} rounds), rounds alternating direct and edge, each load after a warm-up round; `
      + `${paced.concurrency} chats in flight all the time, paced like a real agent (each client starts its next chat when one ends, ${'chatsEach' in paced ? paced.chatsEach : 0} each, the first starts spread over one chat's length; two blocks a side, alternating): ${(paced.concurrency / ((STEPS * paced.stepMs) / 1000)).toFixed(1)} chats a second. `
      + `CPU per chat: user + system time of the process over the measured chats, divided by them. Goal: < 5 ms p50 added, 0 errors.`,
      '',
      '| load | steps apart | to the | straight to the worker, p50 / p95 | through the edge, p50 / p95 | added, p50 | added, p95 | chats a side | edge CPU per chat | worker CPU per chat, straight / through the edge | errors, straight / edge |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
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
