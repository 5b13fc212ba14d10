// The chat API's agents on GPU workers: each run goes to a live worker from the `workers` table
// (one that holds the model, else the one with the most free slots, which loads it), and its
// events are passed on line by line as the worker writes them. A worker that cannot be reached,
// is full or is stopping before it has answered is skipped for the next; once a worker has
// answered, the run is its own and a broken stream is the client's error event. Web-standard fetch
// only: this runs under Node and in a Cloudflare Worker alike.
import {
  AGENT_RUN_PATH, type AgentModel, type AgentRequest, type AgentRun, type AgentRunBody, type AgentRunLine, type AgentService,
} from '../shared/agents.ts'
import { checkpointIdOf, checkpointModels, servableCheckpoint } from '../shared/db/checkpoints.ts'
import type { Database } from '../shared/db/database.ts'
import { type LiveWorker, liveInferenceWorkers } from '../shared/db/workers.ts'
import { ApiError } from '../shared/errors.ts'

const RETRY_AFTER_SECONDS = 5
// How long one read of the workers table serves the chats that arrive after it. Workers advertise
// every heartbeat (seconds) and a stale choice costs only a failover, while a read per chat was the
// largest part of the edge's own work under load (bench/edge-hop.ts).
const WORKER_LIST_TTL_MS = 1000

export class RemoteAgents implements AgentService {
  private workerList?: { readAt: number; workers: Promise<LiveWorker[]> }

  constructor(private readonly deps: { db: Database; token: string; staleMs: number; fetch?: typeof fetch }) {}

  private liveWorkers(): Promise<LiveWorker[]> {
    const now = Date.now()
    if (!this.workerList || now - this.workerList.readAt > WORKER_LIST_TTL_MS) {
      const workers = liveInferenceWorkers(this.deps.db, this.deps.staleMs)
      // a failed read is not kept: the next chat asks the database again
      workers.catch(() => { if (this.workerList?.workers === workers) this.workerList = undefined })
      this.workerList = { readAt: now, workers }
    }
    return this.workerList.workers
  }

  private async live(): Promise<LiveWorker[]> {
    const live = await this.liveWorkers()
    if (!live.length) {
      throw new ApiError(503, 'no_worker_available', 'No GPU worker is serving chat right now: start one (`npm run worker` with PROMPT_R1_WORKER_TOKEN) or try again shortly', null, RETRY_AFTER_SECONDS)
    }
    return live
  }

  /** The agents the live workers serve by name, then the project's merged checkpoints, newest first. */
  async models(projectId: string): Promise<AgentModel[]> {
    const live = await this.liveWorkers()
    const now = Math.floor(Date.now() / 1000)
    const served = [...new Set(live.flatMap((w) => w.models.filter((m) => !checkpointIdOf(m))))]
      .map((id) => ({ id, created: now, ownedBy: 'prompt-r1' }))
    return [...served, ...await checkpointModels(this.deps.db, projectId)]
  }

  async hasModel(projectId: string, model: string): Promise<boolean> {
    const live = await this.live()
    if (checkpointIdOf(model)) return (await servableCheckpoint(this.deps.db, projectId, model)) !== undefined
    return live.some((w) => w.models.includes(model))
  }

  async run(request: AgentRequest): Promise<AgentRun> {
    const { signal, onEvent, onAccepted, ...rest } = request
    const body: AgentRunBody = rest
    // workers advertise the checkpoints they hold by id, whichever name the chat used
    const checkpointId = checkpointIdOf(request.model)
    const holds = (w: LiveWorker) => w.models.includes(checkpointId ?? request.model)
    // holders first; among them and among the rest, the most free slots first (the query's order).
    // An agent served by name runs only where it is configured; any worker can load a checkpoint.
    const candidates = (await this.live()).filter((w) => checkpointId || holds(w))
      .sort((a, b) => Number(holds(b)) - Number(holds(a)))
    let busy = 0
    for (const worker of candidates) {
      if (!holds(worker) && worker.freeSlots <= 0) { busy += 1; continue }
      let response: Response
      try {
        response = await (this.deps.fetch ?? fetch)(`${worker.address}${AGENT_RUN_PATH}`, {
          // never followed: the token goes to the advertised address only ('error' is not in workerd)
          method: 'POST', body: JSON.stringify(body), signal, redirect: 'manual',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${this.deps.token}` },
        })
      } catch (error) {
        if (signal.aborted) throw error
        continue // not reachable: the next one
      }
      if (response.status === 429 || response.status === 503 || (response.status >= 300 && response.status < 400)) {
        if (response.status === 429) busy += 1
        await response.body?.cancel()
        continue
      }
      if (!response.ok || !response.body) throw await workerError(response)
      onAccepted?.()
      return await readRun(response.body, onEvent, worker.id)
    }
    if (busy) throw new ApiError(429, 'workers_busy', 'Every GPU worker is running as many chats as it takes; try again shortly', null, 1)
    throw new ApiError(503, 'no_worker_available', 'No GPU worker could be reached; try again shortly', null, RETRY_AFTER_SECONDS)
  }
}

async function workerError(response: Response): Promise<ApiError> {
  const body = await response.json().catch(() => null) as { error?: { code?: string; message?: string } } | null
  const status = response.status === 404 ? 404 : 502
  return new ApiError(status, body?.error?.code ?? 'agent_failed', body?.error?.message ?? `the worker answered ${response.status}`, status === 404 ? 'model' : null)
}

/** The worker's NDJSON lines: events passed on as each arrives, then the run or its error. */
async function readRun(body: ReadableStream<Uint8Array>, onEvent: AgentRequest['onEvent'], workerId: string): Promise<AgentRun> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let pending = ''
  const lost = () => new ApiError(502, 'worker_lost', `The GPU worker ${workerId} stopped before it finished this answer`)
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>
    try {
      chunk = await reader.read()
    } catch {
      throw lost()
    }
    if (chunk.done) throw lost()
    pending += decoder.decode(chunk.value, { stream: true })
    let newline: number
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = JSON.parse(pending.slice(0, newline)) as AgentRunLine
      pending = pending.slice(newline + 1)
      if ('event' in line) onEvent(line.event)
      else if ('run' in line) { await reader.cancel().catch(() => {}); return line.run }
      else throw new ApiError(line.error.status as never, line.error.code, line.error.message, line.error.param)
    }
  }
}
