// `prompt-r1 chat` and `prompt-r1 train`: the platform's API from a terminal. chat streams one
// question through the agent and prints every step as it happens; train uploads a local dataset
// when given one, creates the job and follows it (its phase, each step's metrics) until it ends.
// The server is --server or PROMPT_R1_SERVER, the key PROMPT_R1_API_KEY (never an argument, so it
// stays out of shell histories and process lists).
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'
import { parseArgs } from 'node:util'
import { DEMO_TRAINING_JOB } from '../demo.ts'

export const CHAT_USAGE = `usage: prompt-r1 chat [--server URL] [--model NAME] [--protocol training|inference|batch-inference]
                      [--env-base-url URL --env-model NAME [--env-api-key-var VAR] | --env-builtin NAME] QUESTION
  asks the agent: each step (the agent's turn, the large LLM's answer) goes to stderr as it happens,
  the final answer to stdout. --model: one of GET /v1/models (default: the first); without --env-*,
  the server's environment LLM; its key from $VAR (default OPENAI_API_KEY); --env-builtin arithmetic:
  the built-in environment (no network). Server: --server or PROMPT_R1_SERVER (default http://127.0.0.1:8787);
  key: PROMPT_R1_API_KEY.`

export const TRAIN_USAGE = `usage: prompt-r1 train [--server URL] [--config JOB.json | --demo] [--model M] [--training-file ID|PATH]
                       [--env-base-url URL --env-model NAME [--env-api-key-var VAR] | --env-builtin NAME]
                       [--steps N] [--suffix S] [--detach]
  creates a training job (the body of POST /v1/training/jobs from --config, or the demo's with --demo:
  the sample agent on the built-in arithmetic set and environment, offline, a few minutes on a CPU;
  the flags on top of it; a --training-file that is a local .jsonl or .parquet file is uploaded first) and follows it: its
  phase and each step's metrics go to stderr, the finished job as JSON to stdout; exit 0 when it
  succeeded, 1 when it failed or was cancelled. --detach prints the job and returns at once.
  Server: --server or PROMPT_R1_SERVER (default http://127.0.0.1:8787); key: PROMPT_R1_API_KEY.`

export class UsageError extends Error {}

interface Io { out: NodeJS.WritableStream; err: NodeJS.WritableStream }

/** The server and key a client command talks to, and a fetch that turns API errors into messages. */
function connection(server: string | undefined, env: NodeJS.ProcessEnv) {
  const base = (server ?? env.PROMPT_R1_SERVER ?? 'http://127.0.0.1:8787').replace(/\/+$/, '')
  const key = env.PROMPT_R1_API_KEY
  if (!key) throw new UsageError('set PROMPT_R1_API_KEY to your API key (npm start prints the first one)')
  const call = async (method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> => {
    const headers: Record<string, string> = { authorization: `Bearer ${key}` }
    let payload: BodyInit | undefined
    if (body instanceof FormData) payload = body
    else if (body !== undefined) { headers['content-type'] = 'application/json'; payload = JSON.stringify(body) }
    let response: Response
    try {
      response = await fetch(`${base}${path}`, { method, headers, body: payload, signal })
    } catch (error) {
      if (signal?.aborted) throw error
      throw new ClientError(`cannot reach ${base}: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message} (is the platform running? npm start)`)
    }
    if (!response.ok) {
      const text = await response.text()
      let message = text
      try {
        const { error } = JSON.parse(text) as { error: { code: string; message: string; details?: { message: string }[] } }
        message = `${error.code}: ${(error.details ?? [error]).map((d) => d.message).join('; ')}`
      } catch { /* not the API's error: its text */ }
      throw new ClientError(`${method} ${path} answered ${response.status}: ${message}`)
    }
    return response
  }
  return { base, call, json: async (method: string, path: string, body?: unknown) => (await call(method, path, body)).json() as Promise<any> }
}

/** The server's answer was an error: exit status 1 with its message. */
export class ClientError extends Error {}

const environmentOptions = { 'env-base-url': { type: 'string' }, 'env-model': { type: 'string' }, 'env-api-key-var': { type: 'string' }, 'env-builtin': { type: 'string' } } as const

// the environment's key is read from a variable (as prompt-r1 eval reads it), never an argument
function environmentOf(values: { 'env-base-url'?: string; 'env-model'?: string; 'env-api-key-var'?: string; 'env-builtin'?: string }, env: NodeJS.ProcessEnv) {
  if (values['env-builtin']) {
    if (values['env-base-url'] || values['env-model']) throw new UsageError('give --env-builtin or --env-base-url and --env-model, not both')
    return { builtin: values['env-builtin'] }
  }
  if (!values['env-base-url'] && !values['env-model']) return undefined
  if (!values['env-base-url'] || !values['env-model']) throw new UsageError('give both --env-base-url and --env-model (or neither: the server\'s)')
  const apiKey = env[values['env-api-key-var'] ?? 'OPENAI_API_KEY']
  return { base_url: values['env-base-url'], model: values['env-model'], ...(apiKey ? { api_key: apiKey } : {}) }
}

export async function runChatCli(args: string[], env: NodeJS.ProcessEnv, io: Io, signal: AbortSignal): Promise<void> {
  let parsed
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { server: { type: 'string' }, model: { type: 'string' }, protocol: { type: 'string' }, ...environmentOptions } })
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  const { values, positionals } = parsed
  if (positionals.length !== 1) throw new UsageError('give the question as one argument (quote it)')
  const api = connection(values.server, env)
  const model = values.model ?? (await api.json('GET', '/v1/models')).data[0]?.id
  if (!model) throw new ClientError(`${api.base} serves no agent yet: set PROMPT_R1_AGENT_MODEL on it, or train one (prompt-r1 train)`)
  const environment = environmentOf(values, env)
  const response = await api.call('POST', '/v1/chat/completions', {
    model, stream: true, messages: [{ role: 'user', content: positionals[0] }],
    ...(values.protocol ? { protocol: values.protocol } : {}), ...(environment ? { environment } : {}),
  }, signal)
  let pending = ''
  let answer = ''
  const decoder = new TextDecoder()
  for await (const chunk of response.body! as unknown as AsyncIterable<Uint8Array>) {
    pending += decoder.decode(chunk, { stream: true })
    let end: number
    while ((end = pending.indexOf('\n\n')) >= 0) {
      const data = pending.slice(0, end).split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n')
      pending = pending.slice(end + 2)
      if (!data || data === '[DONE]') continue
      const event = JSON.parse(data)
      if (event.error) throw new ClientError(`${event.error.code}: ${event.error.message}`)
      const step = event.prompt_r1
      if (step?.type === 'agent_turn') {
        io.err.write(`agent, turn ${step.turn}: ${step.prompt !== null ? `asks the large LLM: ${step.prompt}` : step.answer !== null ? `answers: ${step.answer}` : `(${step.error ?? 'no call, no answer'})`}\n`)
      } else if (step?.type === 'environment_answer') {
        io.err.write(`large LLM (${step.latency_ms} ms): ${step.content ?? `failed: ${step.error}`}\n`)
      } else if (step?.type === 'done') {
        io.err.write(`ended by ${step.end_reason}\n`)
      }
      answer += event.choices?.[0]?.delta?.content ?? ''
    }
  }
  io.out.write(`${answer}\n`)
}

export async function runTrainCli(args: string[], env: NodeJS.ProcessEnv, io: Io, signal: AbortSignal): Promise<boolean> {
  let parsed
  try {
    parsed = parseArgs({
      args, options: {
        server: { type: 'string' }, config: { type: 'string' }, model: { type: 'string' }, 'training-file': { type: 'string' },
        steps: { type: 'string' }, suffix: { type: 'string' }, detach: { type: 'boolean' }, demo: { type: 'boolean' }, ...environmentOptions,
      },
    })
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  const { values } = parsed
  let body: Record<string, any> = {}
  if (values.config && values.demo) throw new UsageError('give --config or --demo, not both')
  if (values.demo) body = structuredClone(DEMO_TRAINING_JOB) as Record<string, any>
  if (values.config) {
    try {
      body = JSON.parse(readFileSync(values.config, 'utf8'))
    } catch (error) {
      throw new UsageError(`--config ${values.config}: ${(error as Error).message}`)
    }
  }
  const api = connection(values.server, env)
  const environment = environmentOf(values, env)
  if (environment) body.environment = environment
  if (values.model) body.model = values.model
  if (values.suffix) body.suffix = values.suffix
  if (values.steps) {
    const steps = Number(values.steps)
    if (!Number.isInteger(steps) || steps < 1) throw new UsageError(`--steps: ${JSON.stringify(values.steps)} is not a whole number of steps`)
    body.method = { type: 'grpo', ...body.method, grpo: { ...body.method?.grpo, hyperparameters: { ...body.method?.grpo?.hyperparameters, steps } } }
  }
  const file = values['training-file']
  if (file && /\.(jsonl|parquet)$/i.test(file)) {
    const form = new FormData()
    form.set('purpose', 'fine-tune')
    form.set('file', new File([readFileSync(file)], basename(file)))
    const uploaded = await api.json('POST', '/v1/files', form)
    io.err.write(`uploaded ${file}: ${uploaded.row_count} rows (${uploaded.id})\n`)
    body.training_file = uploaded.id
  } else if (file) {
    body.training_file = file
  }
  let job = await api.json('POST', '/v1/training/jobs', body)
  io.err.write(`created ${job.id} (${job.status}); the dashboard shows it at ${api.base}/dashboard#/jobs/${job.id}\n`)
  if (values.detach) {
    io.out.write(`${JSON.stringify(job)}\n`)
    return true
  }
  let seq = 0
  let phase = ''
  for (;;) {
    job = await api.json('GET', `/v1/training/jobs/${job.id}`)
    const events = await api.json('GET', `/v1/training/jobs/${job.id}/events?limit=1000&after=${seq}`)
    for (const event of events.data) {
      seq = event.seq
      const metrics = event.type === 'metrics' && event.data
        ? ` ${Object.entries(event.data).filter(([k, v]) => typeof v === 'number' && /reward_mean|format_mean|kl$|loss$|progress/.test(k)).map(([k, v]) => `${k}=${Number(v).toPrecision(3)}`).join(' ')}`
        : ''
      io.err.write(`[${event.level}] ${event.message}${metrics}\n`)
    }
    const now = job.progress ? `${job.progress.phase}${job.progress.total !== null ? ` ${job.progress.done}/${job.progress.total}` : ''}` : ''
    if (now && now !== phase) io.err.write(`  ... ${now}\n`)
    phase = now
    if (['succeeded', 'failed', 'cancelled'].includes(job.status)) break
    signal.throwIfAborted()
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
  io.out.write(`${JSON.stringify(job)}\n`)
  if (job.fine_tuned_model) {
    const builtin = body.environment?.builtin
    io.err.write(`chat with it: prompt-r1 chat --model ${job.fine_tuned_model}${builtin ? ` --env-builtin ${builtin} "3 + 4"` : ' "..."'}\n`)
    io.err.write(`  or in the dashboard: ${api.base}/dashboard#/playground?${new URLSearchParams({ model: job.fine_tuned_model, ...(builtin ? { builtin } : {}) })}\n`)
  }
  return job.status === 'succeeded'
}
