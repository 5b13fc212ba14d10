// `npm start` runs its job worker and its served agents in a worker thread (model-thread-entry.ts),
// so that the API answers while a model trains or loads. This is the API thread's handle on it: it
// serves the thread's database queries (the embedded PGlite lives here), wakes its job worker, and
// is the edge's AgentService, streaming each run's events back as they happen.
import { MessageChannel, Worker } from 'node:worker_threads'
import type { AgentEvent, AgentModel, AgentRequest, AgentRun, AgentService } from '../shared/agents.ts'
import { ApiError } from '../shared/errors.ts'
import type { Config } from '../shared/config.ts'
import type { OpenDatabase } from '../shared/db/database.ts'
import { serveQueries } from '../shared/db/proxy.ts'

type RunRequest = Omit<AgentRequest, 'signal' | 'onEvent' | 'onAccepted'>

export type HostMessage =
  | { type: 'wake' } | { type: 'stop' }
  | { type: 'models'; id: number; projectId: string } | { type: 'hasModel'; id: number; projectId: string; model: string }
  | { type: 'run'; id: number; request: RunRequest } | { type: 'abort'; id: number }

export type ThreadMessage =
  | { type: 'ready'; kinds: string[] } | { type: 'stopped' }
  | { type: 'reply'; id: number; value: unknown }
  | { type: 'failed'; id: number; message: string; api?: { status: number; code: string; param: string | null } }
  | { type: 'event'; id: number; event: AgentEvent }

export class ModelThread implements AgentService {
  private next = 0
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; onEvent?: (e: AgentEvent) => void }>()
  private stopped: (() => void) | null = null

  private constructor(private readonly thread: Worker, readonly kinds: string[]) {
    thread.on('message', (m: ThreadMessage) => {
      if (m.type === 'stopped') return this.stopped?.()
      if (m.type === 'ready') return
      const waiter = this.pending.get(m.id)
      if (m.type === 'event') return waiter?.onEvent?.(m.event)
      this.pending.delete(m.id)
      if (m.type === 'reply') waiter?.resolve(m.value)
      else waiter?.reject(m.api ? new ApiError(m.api.status as never, m.api.code, m.message, m.api.param) : new Error(m.message))
    })
    thread.on('error', (error) => {
      for (const waiter of this.pending.values()) waiter.reject(error)
      this.pending.clear()
    })
  }

  static start(config: Config, database: OpenDatabase): Promise<ModelThread> {
    const { port1, port2 } = new MessageChannel()
    if (database.pglite) serveQueries(database.pglite, port1)
    const thread = new Worker(new URL('./thread-boot.mjs', import.meta.url), {
      workerData: { entry: new URL('./model-thread-entry.ts', import.meta.url).href, config, database: port2 },
      transferList: [port2],
    })
    return new Promise((resolve, reject) => {
      const onReady = (m: ThreadMessage) => {
        if (m.type !== 'ready') return
        thread.off('message', onReady)
        thread.off('error', reject)
        resolve(new ModelThread(thread, m.kinds))
      }
      thread.on('message', onReady)
      thread.once('error', reject)
    })
  }

  private call<T>(message: HostMessage & { id: number }, onEvent?: (e: AgentEvent) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.set(message.id, { resolve: resolve as (v: unknown) => void, reject, onEvent })
      this.thread.postMessage(message)
    })
  }

  wake(): void { this.thread.postMessage({ type: 'wake' } satisfies HostMessage) }

  models(projectId: string): Promise<AgentModel[]> { return this.call({ type: 'models', id: this.next++, projectId }) }

  hasModel(projectId: string, model: string): Promise<boolean> { return this.call({ type: 'hasModel', id: this.next++, projectId, model }) }

  run(request: AgentRequest): Promise<AgentRun> {
    const id = this.next++
    const { signal, onEvent, onAccepted, ...rest } = request
    onAccepted?.()
    const abort = () => this.thread.postMessage({ type: 'abort', id } satisfies HostMessage)
    signal.addEventListener('abort', abort, { once: true })
    return this.call<AgentRun>({ type: 'run', id, request: rest }, onEvent).finally(() => signal.removeEventListener('abort', abort))
  }

  /** Stops the job worker (a job in progress is finished first), then the thread. */
  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.stopped = resolve
      this.thread.postMessage({ type: 'stop' } satisfies HostMessage)
    })
    await this.thread.terminate()
  }
}
