// The worker's inference endpoint: the edge (edge/remote-agents.ts) sends it one chat's agent run
// and reads the run's events back as NDJSON lines, each written as the step happens. Bearer auth
// with the shared worker token; a full worker answers 429 and a stopping one 503, so the edge can
// try another before anything has been streamed. The worker advertises itself in the `workers`
// table (address, models, slots) on a heartbeat of its own.
import { serve } from '@hono/node-server'
import { timingSafeEqual } from 'node:crypto'
import { hostname } from 'node:os'
import { Hono } from 'hono'
import { stream } from 'hono/streaming'
import { z } from 'zod'
import {
  AGENT_RUN_PATH, type AgentRunBody, type AgentRunLine, type AgentService, WORKER_HEALTH_PATH,
} from '../shared/agents.ts'
import type { Config } from '../shared/config.ts'
import type { Database } from '../shared/db/database.ts'
import { advertiseInference, withdrawInference } from '../shared/db/workers.ts'
import { ApiError } from '../shared/errors.ts'
import { describeFault } from '../shared/log.ts'
import { BUILTIN_ENVIRONMENTS } from '../shared/protocol/builtin-environment.ts'
import { PROTOCOL_NAMES } from '../shared/protocol/options.ts'

const runBody = z.object({
  projectId: z.string().min(1),
  model: z.string().min(1),
  question: z.string().min(1),
  environment: z.union([z.object({ builtin: z.enum(BUILTIN_ENVIRONMENTS) }), z.object({ baseURL: z.string().min(1), model: z.string().min(1), apiKey: z.string() })]),
  protocol: z.enum(PROTOCOL_NAMES),
  sampling: z.object({
    temperature: z.number().optional(), topP: z.number().optional(), seed: z.number().int().optional(), maxTokensPerTurn: z.number().int().optional(),
  }),
})

export interface ServedAgents extends AgentService {
  /** The agents served by name and the merged checkpoints loaded now: what the edge prefers this worker for. */
  held(): string[]
}

const errorLine = (error: unknown): AgentRunLine => error instanceof ApiError
  ? { error: { status: error.status, code: error.code, message: error.message, param: error.param } }
  : { error: { status: 502, code: 'agent_failed', message: (error as Error).message, param: null } }

/** The endpoint as a Hono app: `slots` runs at once, and `isStopping` turns new runs away. */
export function inferenceApp(deps: { agents: ServedAgents; token: string; slots: number; isStopping: () => boolean; onLoad?: (active: number) => void }) {
  const expected = Buffer.from(`Bearer ${deps.token}`)
  let active = 0
  let served = 0
  const fail = (status: 400 | 401 | 404 | 429 | 503, code: string, message: string) => Response.json({ error: { code, message, param: null } }, { status })
  const app = new Hono()
  app.use('/internal/*', async (c, next) => {
    const given = Buffer.from(c.req.header('authorization') ?? '')
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return fail(401, 'invalid_worker_token', 'This endpoint needs the worker token (PROMPT_R1_WORKER_TOKEN)')
    await next()
  })
  app.get(WORKER_HEALTH_PATH, (c) => c.json({ active, served, slots: deps.slots, held: deps.agents.held() }))
  app.post(AGENT_RUN_PATH, async (c) => {
    if (deps.isStopping()) return fail(503, 'worker_stopping', 'This worker is stopping')
    if (active >= deps.slots) return fail(429, 'worker_busy', `This worker runs ${deps.slots} chats at once (PROMPT_R1_WORKER_SLOTS), all taken`)
    const parsed = runBody.safeParse(await c.req.json().catch(() => undefined))
    if (!parsed.success) return fail(400, 'invalid_run', `Not an agent run: ${parsed.error.issues[0].path.join('.')}: ${parsed.error.issues[0].message}`)
    const body: AgentRunBody = parsed.data
    active += 1
    deps.onLoad?.(active)
    let released = false
    const release = () => { if (!released) { released = true; active -= 1; deps.onLoad?.(active) } }
    try {
      if (!(await deps.agents.hasModel(body.projectId, body.model))) {
        release()
        return fail(404, 'model_not_found', `This worker cannot load the model '${body.model}'`)
      }
    } catch (error) {
      release()
      throw error
    }
    served += 1
    const abort = new AbortController()
    c.req.raw.signal.addEventListener('abort', () => abort.abort(new Error('the edge went away')), { once: true })
    c.header('content-type', 'application/x-ndjson')
    return stream(c, async (out) => {
      out.onAbort(() => abort.abort(new Error('the edge went away')))
      const write = (line: AgentRunLine) => out.write(`${JSON.stringify(line)}\n`)
      const writes: Promise<unknown>[] = []
      try {
        const run = await deps.agents.run({ ...body, signal: abort.signal, onEvent: (event) => { writes.push(write({ event })) } })
        await Promise.all(writes)
        await write({ run })
      } catch (error) {
        if (!abort.signal.aborted) await write(errorLine(error))
      } finally {
        release()
      }
    })
  })
  app.onError((error) => {
    if (error instanceof ApiError) return Response.json({ error: { code: error.code, message: error.message, param: error.param } }, { status: error.status })
    console.error(`inference endpoint: ${describeFault(error)}`)
    return Response.json({ error: { code: 'server_error', message: 'The worker failed to handle this request; it has been logged', param: null } }, { status: 500 })
  })
  return app
}

/** Where the edge reaches a worker that listens on `host`: a wildcard address is not one, the machine's name is. */
function advertisedUrl(host: string, port: number): string {
  const name = ['0.0.0.0', '::', '[::]'].includes(host) ? hostname() : host
  return `http://${name.includes(':') ? `[${name}]` : name}:${port}`
}

/**
 * Serves the endpoint on `config.worker.port` and advertises it as worker `id` until stopped. The
 * row is refreshed every heartbeat and when the load changes by a quarter of the slots.
 */
export async function startInferenceServer(deps: { id: string; db: Database; config: Config; agents: ServedAgents }) {
  const { worker, engine, queue } = deps.config
  if (!worker.token) throw new Error('startInferenceServer: PROMPT_R1_WORKER_TOKEN is not set')
  const address = worker.url ?? advertisedUrl(deps.config.host, worker.port)
  let stopping = false
  let load = 0
  let lastAdvertised = -1
  const advertise = async () => {
    lastAdvertised = load
    await advertiseInference(deps.db, deps.id, {
      address, models: deps.agents.held(), slots: worker.slots, freeSlots: Math.max(0, worker.slots - load), provider: engine.provider,
    }).catch((error) => console.error(`worker ${deps.id}: advertising the inference endpoint failed: ${describeFault(error)}`))
  }
  const app = inferenceApp({
    agents: deps.agents, token: worker.token, slots: worker.slots, isStopping: () => stopping,
    onLoad: (active) => {
      load = active
      if (Math.abs(active - lastAdvertised) * 4 >= worker.slots) void advertise()
    },
  })
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: worker.port, hostname: deps.config.host }, () => resolve(s))
  })
  await advertise()
  const beat = setInterval(advertise, queue.heartbeatMs)
  return {
    url: address,
    async stop() {
      stopping = true
      clearInterval(beat)
      await withdrawInference(deps.db, deps.id).catch(() => {})
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
