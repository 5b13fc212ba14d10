// The agent as an OpenAI-compatible chat model. The last user message is the question; the agent
// drives the environment LLM (the server's, or the request's `environment`) over several turns.
// Streaming sends OpenAI chat.completion.chunk events: the final answer as `content` deltas, and
// each step of the episode in the chunk's extra `prompt_r1` field, which plain clients ignore.
import { Hono } from 'hono'
import { streamSSE } from 'hono/streaming'
import { z } from 'zod'
import type { Database } from '../../shared/db/database.ts'
import { RunLog } from '../../shared/db/runs.ts'
import { newId } from '../../shared/ids.ts'
import { serviceFault } from '../../shared/faults.ts'
import { describeFault } from '../../shared/log.ts'
import type { AgentEvent, AgentRun, AgentService, EnvironmentEndpoint } from '../../shared/agents.ts'
import type { AuthEnv } from '../auth.ts'
import { checkEnvironmentUrl } from '../../shared/outbound.ts'
import { ApiError } from '../../shared/errors.ts'
import { checkEnvironmentSource, environmentFields } from '../../shared/job-config.ts'
import { faultError } from '../errors.ts'
import { readJson } from '../request.ts'
import { PROTOCOL_NAMES } from '../../shared/protocol/options.ts'

export interface ChatConfig {
  // the environment used when a request names none
  environment?: EnvironmentEndpoint
  allowLoopbackEnvironment: boolean
  // the most one chat request may take, all turns and environment retries together
  chatTimeoutMs: number
}

class DeadlineExceeded extends Error {}

const message = z.strictObject({
  role: z.enum(['system', 'developer', 'user', 'assistant']),
  content: z.union([z.string(), z.array(z.strictObject({ type: z.literal('text'), text: z.string() }))]),
  name: z.string().optional(),
})

export const chatBody = z.strictObject({
  model: z.string().min(1).max(200),
  messages: z.array(message).min(1).max(256),
  stream: z.boolean().default(false),
  stream_options: z.strictObject({ include_usage: z.boolean().optional() }).optional(),
  // the protocol's unless given: greedy for 'training', 0.7 and 0.8 for the published inference scripts
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  seed: z.number().int().min(0).max(2 ** 32 - 1).optional(),
  // the most new tokens per agent turn (at most the protocol's: 1024 for 'training', 8192 otherwise)
  max_tokens: z.number().int().min(1).optional(),
  max_completion_tokens: z.number().int().min(1).optional(),
  n: z.literal(1).optional(),
  user: z.string().max(256).optional(),
  // Prompt-R1's: the named protocol the agent plays (docs/protocol.md)
  protocol: z.enum(PROTOCOL_NAMES).default('training'),
  environment: environmentFields.pick({ builtin: true, base_url: true, model: true, api_key: true }).superRefine(checkEnvironmentSource).optional(),
})

function chunk(id: string, created: number, model: string, delta: Record<string, unknown>, extra: Record<string, unknown> = {}, finish: string | null = null) {
  return JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }], ...extra })
}

/** Server-sent events, one per `data` (each a line of JSON, or `[DONE]`), as one string. */
const events = (...data: string[]) => data.map((d) => `data: ${d}\n\n`).join('')

function usageOf(run: AgentRun) {
  const { agent, environment } = run.usage
  return {
    prompt_tokens: agent.promptTokens,
    completion_tokens: agent.completionTokens,
    total_tokens: agent.promptTokens + agent.completionTokens,
    environment: { prompt_tokens: environment.promptTokens, completion_tokens: environment.completionTokens, total_tokens: environment.promptTokens + environment.completionTokens },
  }
}

function eventField(event: AgentEvent) {
  return event.type === 'agent_turn'
    ? { type: event.type, turn: event.turn, think: event.think, prompt: event.prompt, answer: event.answer, error: event.error }
    : { type: event.type, turn: event.turn, content: event.content, error: event.error, latency_ms: event.latencyMs,
        usage: event.usage && { prompt_tokens: event.usage.promptTokens, completion_tokens: event.usage.completionTokens } }
}

export function chatRoutes(db: Database, agents: AgentService | undefined, config: ChatConfig) {
  const runLog = new RunLog(db)
  const available = () => {
    if (!agents) throw new ApiError(503, 'agent_unavailable', 'No agent runs behind this edge: set PROMPT_R1_WORKER_TOKEN to send chats to GPU workers, or serve the chat API from `npm start`')
    return agents
  }

  return new Hono<AuthEnv>()
    .get('/models', async (c) => {
      const models = await available().models(c.get('principal').projectId)
      return c.json({ object: 'list', data: models.map((m) => ({ id: m.id, object: 'model', created: m.created, owned_by: m.ownedBy })) })
    })
    .post('/chat/completions', async (c) => {
      // the request is checked first: bad input is a 400 whatever serves the agents
      const body = await readJson(c, chatBody)
      const service = available()
      const last = body.messages.findLast((m) => m.role === 'user')
      const question = typeof last?.content === 'string' ? last.content : last?.content.map((p) => p.text).join('')
      if (!question?.trim()) throw new ApiError(400, 'invalid_parameter', "'messages' needs a user message with the question", 'messages')
      const requested = body.environment
      const environment: EnvironmentEndpoint | undefined = !requested ? config.environment
        : requested.builtin ? { builtin: requested.builtin }
        : {
            baseURL: checkEnvironmentUrl(requested.base_url!, config.allowLoopbackEnvironment),
            model: requested.model!,
            apiKey: requested.api_key || 'unused',
          }
      if (!environment) {
        throw new ApiError(400, 'missing_required_parameter',
          "Missing required parameter: 'environment' (this server has no default environment LLM)", 'environment')
      }
      const { projectId } = c.get('principal')
      const maxTokens = body.max_completion_tokens ?? body.max_tokens
      const id = `chatcmpl-${newId('run').slice(4)}`
      const created = Math.floor(Date.now() / 1000)
      const abort = new AbortController()
      c.req.raw.signal.addEventListener('abort', () => abort.abort(new Error('the client went away')), { once: true })
      const seconds = config.chatTimeoutMs / 1000
      const deadline = setTimeout(() => abort.abort(new DeadlineExceeded(
        `The agent did not finish within ${seconds} s (PROMPT_R1_CHAT_TIMEOUT_SECONDS); the environment may be slow or not answering`)), config.chatTimeoutMs)
      const timedOut = () => abort.signal.reason instanceof DeadlineExceeded
        ? new ApiError(504, 'deadline_exceeded', (abort.signal.reason as Error).message) : undefined
      const request = {
        projectId, model: body.model, question, environment, protocol: body.protocol, signal: abort.signal,
        sampling: { temperature: body.temperature, topP: body.top_p, seed: body.seed, maxTokensPerTurn: maxTokens },
      }
      const record = (run: AgentRun) => runLog.record({
        id, projectId, model: body.model, question, answer: run.answer, trajectory: run.turns,
        usage: { agent_prompt_tokens: run.usage.agent.promptTokens, agent_completion_tokens: run.usage.agent.completionTokens,
          environment_prompt_tokens: run.usage.environment.promptTokens, environment_completion_tokens: run.usage.environment.completionTokens },
        timings: { total_ms: run.timings.totalMs, environment_ms: run.timings.environmentMs },
      })
      if (!(await service.hasModel(projectId, body.model))) {
        clearTimeout(deadline)
        throw new ApiError(404, 'model_not_found',
          `The model '${body.model}' does not exist or you do not have access to it (GET /v1/models lists them)`, 'model')
      }

      if (!body.stream) {
        const run = await service.run({ ...request, onEvent: () => {} })
          .catch((error) => { throw timedOut() ?? error })
          .finally(() => clearTimeout(deadline))
        await record(run)
        return c.json({
          id, object: 'chat.completion', created, model: body.model,
          choices: [{ index: 0, message: { role: 'assistant', content: run.answer }, finish_reason: 'stop' }],
          usage: usageOf(run),
          turns: run.turns.map((t) => ({
            think: t.think, prompt: t.prompt, environment_answer: t.environmentAnswer, answer: t.answer, error: t.error,
            environment_latency_ms: t.environmentLatencyMs === null ? null : Math.round(t.environmentLatencyMs),
          })),
          end_reason: run.endReason,
        })
      }

      // the run starts before the stream: a refusal (every worker busy, none live) is the HTTP status;
      // its steps wait in `early` only until the stream is open
      const early: AgentEvent[] = []
      let send: ((event: AgentEvent) => void) | null = null
      let accept!: () => void
      const accepted = new Promise<void>((resolve) => { accept = resolve })
      const running = service.run({ ...request, onAccepted: accept, onEvent: (event) => (send ? send(event) : early.push(event)) })
      running.catch(() => {}) // awaited in the stream; this only keeps an early failure from counting as unhandled
      try {
        await Promise.race([accepted, running])
      } catch (error) {
        clearTimeout(deadline)
        throw timedOut() ?? (error instanceof ApiError || serviceFault(error) ? error : new ApiError(502, 'agent_failed', (error as Error).message))
      }

      return streamSSE(c, async (stream) => {
        stream.onAbort(() => abort.abort(new Error('the client went away')))
        await stream.write(events(chunk(id, created, body.model, { role: 'assistant', content: '' })))
        const writes: Promise<unknown>[] = []
        // what follows the record goes out as one write: a write is a system call per chunk
        let ending: string[]
        try {
          send = (event) => { writes.push(stream.write(events(chunk(id, created, body.model, {}, { prompt_r1: eventField(event) })))) }
          early.splice(0).forEach(send)
          const run = await running
          await Promise.all(writes)
          // the answer goes out while the run's record is written (a round trip to the database);
          // the end of the stream waits for the record, and one that fails is the stream's error event
          const recorded = record(run)
          await stream.write(events(chunk(id, created, body.model, { content: run.answer })))
          await recorded.catch((error) => {
            // the client has its answer; it learns the run was not kept, never the statement's text
            console.error(`chat ${id}: the run could not be recorded: ${describeFault(error)}`)
            throw faultError(error) ?? new ApiError(500, 'server_error', 'The answer could not be recorded; it has been logged')
          })
          ending = [chunk(id, created, body.model, {}, { prompt_r1: { type: 'done', end_reason: run.endReason } }, 'stop')]
          if (body.stream_options?.include_usage) {
            ending.push(JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [], usage: usageOf(run) }))
          }
        } catch (error) {
          if (abort.signal.aborted && !timedOut()) return
          const apiError = timedOut() ?? (error instanceof ApiError ? error : faultError(error) ?? new ApiError(502, 'agent_failed', (error as Error).message))
          ending = [JSON.stringify({ error: { code: apiError.code, message: apiError.message, param: apiError.param } })]
        } finally {
          clearTimeout(deadline)
        }
        await stream.write(events(...ending, '[DONE]'))
      })
    })
}
