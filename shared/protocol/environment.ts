// The environment: a frozen large LLM behind any OpenAI-compatible Chat Completions API, which the
// agent sees as its one tool. The client adds what many concurrent episodes need against a real
// provider: a timeout, retries with backoff, a concurrency cap, token accounting and a cache.
import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import OpenAI, { APIConnectionError, APIError, APIUserAbortError } from 'openai'
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions'
import { type OutboundPolicy, OutboundRefusedError, policyFetch } from '../outbound-fetch.ts'
import { JobFailure } from '../errors.ts'
import { ENVIRONMENT_SYSTEM_PROMPT } from './template.ts'
import { pyStrip } from './python.ts'

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant'
  content: string
}

export interface TokenUsage {
  promptTokens: number
  completionTokens: number
}

export interface EnvironmentAnswer {
  /** choices[0].message.content, trimmed. */
  content: string
  /** Tokens this call spent (zero for an answer served from the cache). */
  usage: TokenUsage
}

/** Answers a list of chat messages. Throws when it cannot; the episode runner turns that into tool content. */
export interface Environment {
  complete(messages: ChatMessage[], signal?: AbortSignal): Promise<EnvironmentAnswer>
}

export const PROBE_PROMPT = 'Reply with OK.'

/**
 * A job's check before its first rollout: the environment answers one short call, or the job fails
 * as `environment_unavailable` with what answered instead, rather than playing episodes whose every
 * call fails. The call goes through the response cache like any other, so that a rerun whose
 * answers are all cached still calls nothing (a dead environment is then caught by the error share).
 */
export async function probeEnvironment(environment: Environment, signal?: AbortSignal): Promise<void> {
  try {
    await environment.complete([{ role: 'user', content: PROBE_PROMPT }], signal)
  } catch (error) {
    signal?.throwIfAborted()
    throw new JobFailure('environment_unavailable', `the environment LLM did not answer a test call: ${error instanceof Error ? error.message : String(error)}`)
  }
}

/**
 * Whether too many of a job's environment calls failed for its results to mean anything: more than
 * `limit` of them (a share, 0-1), or every one. Throws `environment_unavailable` saying so, e.g.
 * "every one of 12 environment calls of step 3 failed; the first: ...".
 */
export function checkEnvironmentErrors(counted: string, total: number, failed: number, limit: number, firstError: string | null): void {
  if (total === 0 || (failed < total && failed <= limit * total)) return
  const share = failed === total ? 'every one' : `${failed} (more than ${Math.round(limit * 100)}%)`
  throw new JobFailure('environment_unavailable', `${share} of ${total} ${counted} failed${firstError ? `; the first: ${firstError}` : ''}`)
}

/** The messages of one environment call: the fixed system text, the episode's history, the prompt. */
export function environmentMessages(history: ChatMessage[], prompt: string): ChatMessage[] {
  return [{ role: 'system', content: ENVIRONMENT_SYSTEM_PROMPT }, ...history, { role: 'user', content: prompt }]
}

/** Sampling parameters to send; none by default, so the provider's defaults apply (as published). */
export type EnvironmentSampling = Omit<ChatCompletionCreateParamsNonStreaming, 'model' | 'messages' | 'stream'>

export interface OpenAIEnvironmentConfig {
  baseURL: string
  apiKey: string
  model: string
  /** Which hosts may be called, applied to every address and redirect (../outbound-fetch.ts). */
  policy: OutboundPolicy
  sampling?: EnvironmentSampling
  /** Per attempt. */
  timeoutMs?: number
  /** Retries after the first attempt, on 429, 5xx, timeouts and network errors. */
  maxRetries?: number
  /** Backoff before retry n (from 0): min(maxDelay, base * 2^n), less up to 25% jitter. */
  retryBaseDelayMs?: number
  retryMaxDelayMs?: number
  /** Requests in flight at once, over all episodes using this environment. */
  concurrency?: number
  cache?: ResponseCache
}

export const ENVIRONMENT_DEFAULTS = {
  timeoutMs: 120_000,
  maxRetries: 4,
  retryBaseDelayMs: 500,
  retryMaxDelayMs: 30_000,
  concurrency: 32,
}

/** A cache of answers, keyed by a hash of model, messages and sampling parameters. */
export interface ResponseCache {
  get(key: string): Promise<string | undefined>
  set(key: string, content: string): Promise<void>
}

/** One file per answer in a folder: survives restarts, so a rerun evaluation calls nothing. */
export class DirectoryResponseCache implements ResponseCache {
  constructor(private readonly dir: string) {}

  async get(key: string): Promise<string | undefined> {
    try {
      return JSON.parse(await readFile(join(this.dir, `${key}.json`), 'utf8')).content
    } catch {
      return undefined
    }
  }

  async set(key: string, content: string): Promise<void> {
    await mkdir(this.dir, { recursive: true })
    // Write then rename, so a concurrent reader never sees half a file.
    const file = join(this.dir, `${key}.json`)
    const partial = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
    await writeFile(partial, JSON.stringify({ content }))
    await rename(partial, file)
  }
}

/** Caps how many tasks run at once; waiters start in arrival order. */
export class ConcurrencyLimit {
  private running = 0
  private readonly waiting: (() => void)[] = []

  constructor(readonly limit: number) {
    if (!(limit >= 1)) throw new Error(`concurrency must be at least 1, got ${limit}`)
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve))
    else this.running++
    try {
      return await task()
    } finally {
      // Hand the slot straight to the next waiter, or free it.
      const next = this.waiting.shift()
      if (next) next()
      else this.running--
    }
  }
}

export class OpenAIEnvironment implements Environment {
  private readonly client: OpenAI
  private readonly limit: ConcurrencyLimit
  private readonly settings: OpenAIEnvironmentConfig & typeof ENVIRONMENT_DEFAULTS

  constructor(config: OpenAIEnvironmentConfig) {
    this.settings = { ...ENVIRONMENT_DEFAULTS, ...config }
    // The SDK's own retries are off: this class retries, so that the concurrency slot is released
    // while it backs off and every attempt obeys the same policy.
    this.client = new OpenAI({ baseURL: config.baseURL, apiKey: config.apiKey, maxRetries: 0, fetch: policyFetch(config.policy) })
    this.limit = new ConcurrencyLimit(this.settings.concurrency)
  }

  async complete(messages: ChatMessage[], signal?: AbortSignal): Promise<EnvironmentAnswer> {
    const { model, sampling, cache } = this.settings
    if (!cache) return this.completeWithRetries(messages, signal)
    const key = createHash('sha256').update(JSON.stringify([model, messages, sampling ?? {}])).digest('hex')
    const cached = await cache.get(key)
    if (cached !== undefined) return { content: cached, usage: { promptTokens: 0, completionTokens: 0 } }
    const answer = await this.completeWithRetries(messages, signal)
    await cache.set(key, answer.content)
    return answer
  }

  private async completeWithRetries(messages: ChatMessage[], signal?: AbortSignal): Promise<EnvironmentAnswer> {
    const { model, sampling, timeoutMs, maxRetries } = this.settings
    for (let attempt = 0; ; attempt++) {
      try {
        const completion = await this.limit.run(() =>
          this.client.chat.completions.create({ ...sampling, model, messages, stream: false }, { timeout: timeoutMs, signal }),
        )
        const choice = completion.choices?.[0]
        if (!choice) throw new Error('the environment returned no choices')
        return {
          content: pyStrip(choice.message.content ?? ''),
          usage: { promptTokens: completion.usage?.prompt_tokens ?? 0, completionTokens: completion.usage?.completion_tokens ?? 0 },
        }
      } catch (error) {
        const refused = refusal(error)
        if (refused) throw refused
        if (attempt >= maxRetries || !isRetryable(error)) throw withoutKey(error, this.settings.apiKey)
        await sleep(this.retryDelayMs(error, attempt), signal)
      }
    }
  }

  private retryDelayMs(error: unknown, attempt: number): number {
    const { retryBaseDelayMs, retryMaxDelayMs } = this.settings
    const serverDelay = error instanceof APIError ? retryAfterMs(error.headers) : undefined
    if (serverDelay !== undefined) return Math.min(serverDelay, retryMaxDelayMs)
    return Math.min(retryMaxDelayMs, retryBaseDelayMs * 2 ** attempt) * (1 - 0.25 * Math.random())
  }
}

// Whatever fails must not carry the key on into turn errors, runs and results (an SDK or a header
// check may quote it).
function withoutKey(error: unknown, apiKey: string): unknown {
  if (error instanceof Error && apiKey.length >= 4 && error.message.includes(apiKey)) error.message = error.message.split(apiKey).join('[api key]')
  return error
}

// The policy's refusal, wherever the client and fetch wrapped it: its message is the one to show.
function refusal(error: unknown): OutboundRefusedError | undefined {
  for (let e = error; e instanceof Error; e = e.cause) if (e instanceof OutboundRefusedError) return e
  return undefined
}

function isRetryable(error: unknown): boolean {
  if (error instanceof APIUserAbortError) return false
  if (error instanceof APIConnectionError) return true // network errors and timeouts
  return error instanceof APIError && error.status !== undefined && (error.status === 429 || error.status >= 500)
}

/** The wait a server asked for: retry-after-ms, or Retry-After in seconds or as an HTTP date. */
export function retryAfterMs(headers: Headers | undefined, now = Date.now()): number | undefined {
  const milliseconds = Number.parseFloat(headers?.get('retry-after-ms') ?? '')
  if (Number.isFinite(milliseconds) && milliseconds >= 0) return milliseconds
  const value = headers?.get('retry-after')
  if (!value) return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000
  const date = Date.parse(value)
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal!.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
