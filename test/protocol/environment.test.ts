// The OpenAI-SDK environment client against a real local HTTP server (deterministic arithmetic).
import { mkdtemp, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ConcurrencyLimit, DirectoryResponseCache, OpenAIEnvironment, environmentMessages, retryAfterMs, type OpenAIEnvironmentConfig,
} from '../../shared/protocol/environment.ts'
import { ENVIRONMENT_SYSTEM_PROMPT } from '../../shared/protocol/template.ts'
import { maxConcurrent, startDeterministicArithmeticEnv, type DeterministicArithmeticEnv } from './deterministic-arithmetic-env.ts'

let env: DeterministicArithmeticEnv
beforeAll(async () => { env = await startDeterministicArithmeticEnv() })
afterAll(async () => { await env.close() })

const client = (config: Partial<OpenAIEnvironmentConfig> = {}) =>
  new OpenAIEnvironment({ baseURL: env.baseURL, apiKey: 'test-key', model: 'arithmetic-1', policy: { allowLoopback: true }, retryBaseDelayMs: 20, ...config })
const requestsFor = (prompt: string) => env.requests.filter((r) => r.messages.at(-1)!.content === prompt)

describe('OpenAIEnvironment', () => {
  it('sends the published messages and no sampling parameters by default', async () => {
    const history = [{ role: 'user' as const, content: 'What is 1 + 1?' }, { role: 'assistant' as const, content: '1 + 1 = 2' }]
    const answer = await client().complete(environmentMessages(history, 'And 17 * 23?'))
    expect(answer).toEqual({ content: '17 * 23 = 391', usage: { promptTokens: 42, completionTokens: 5 } }) // trimmed; usage counts words here
    const [request] = requestsFor('And 17 * 23?')
    expect(request.messages).toEqual([{ role: 'system', content: ENVIRONMENT_SYSTEM_PROMPT }, ...history, { role: 'user', content: 'And 17 * 23?' }])
    expect(Object.keys(request.body).sort()).toEqual(['messages', 'model', 'stream'])
    expect(request.body.model).toBe('arithmetic-1')
  })

  it('sends sampling parameters when configured', async () => {
    await client({ sampling: { temperature: 0.2, max_tokens: 64 } }).complete(environmentMessages([], '2 + 2 with sampling'))
    expect(requestsFor('2 + 2 with sampling')[0].body).toMatchObject({ temperature: 0.2, max_tokens: 64 })
  })

  it('retries 5xx and then answers', async () => {
    const prompt = '3 + 4 [status 500 x2]'
    expect((await client().complete(environmentMessages([], prompt))).content).toBe('3 + 4 = 7')
    expect(requestsFor(prompt)).toHaveLength(3)
  })

  it('gives up after maxRetries with the error', async () => {
    const prompt = '3 + 5 [status 500 x9]'
    await expect(client({ maxRetries: 2 }).complete(environmentMessages([], prompt))).rejects.toThrow(/500/)
    expect(requestsFor(prompt)).toHaveLength(3)
  })

  it('waits as long as Retry-After says on 429', async () => {
    const prompt = '6 * 7 [status 429 retry-after 1]'
    expect((await client().complete(environmentMessages([], prompt))).content).toBe('6 * 7 = 42')
    const [first, second] = requestsFor(prompt)
    expect(second.receivedAt - first.receivedAt).toBeGreaterThanOrEqual(1000) // backoff alone would be ~20 ms
  })

  it('times out a slow answer, retries, then fails', async () => {
    const prompt = '8 - 1 [delay 400]'
    const started = Date.now()
    await expect(client({ timeoutMs: 100, maxRetries: 1 }).complete(environmentMessages([], prompt))).rejects.toThrow(/timed out/i)
    expect(requestsFor(prompt)).toHaveLength(2)
    expect(Date.now() - started).toBeLessThan(400)
  })

  it('keeps at most `concurrency` requests in flight', async () => {
    const environment = client({ concurrency: 3 })
    const prompts = Array.from({ length: 12 }, (_, i) => `${i} + 100 [delay 30]`)
    await Promise.all(prompts.map((prompt) => environment.complete(environmentMessages([], prompt))))
    expect(maxConcurrent(env.requests.filter((r) => prompts.includes(r.messages.at(-1)!.content)))).toBe(3)
  })

  it('answers a repeated call from the cache without a request, spending no tokens', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'prompt-r1-cache-'))
    const prompt = '9 * 9 cached'
    const first = await client({ cache: new DirectoryResponseCache(dir) }).complete(environmentMessages([], prompt))
    const second = await client({ cache: new DirectoryResponseCache(dir) }).complete(environmentMessages([], prompt))
    expect(requestsFor(prompt)).toHaveLength(1)
    expect(second).toEqual({ content: first.content, usage: { promptTokens: 0, completionTokens: 0 } })
    // Another model or other parameters are other keys.
    await client({ cache: new DirectoryResponseCache(dir), sampling: { temperature: 0 } }).complete(environmentMessages([], prompt))
    expect(requestsFor(prompt)).toHaveLength(2)
    expect(await readdir(dir)).toHaveLength(2)
  })
})

describe('retryAfterMs', () => {
  it('reads retry-after-ms, seconds and HTTP dates', () => {
    expect(retryAfterMs(new Headers({ 'retry-after-ms': '250', 'retry-after': '9' }))).toBe(250)
    expect(retryAfterMs(new Headers({ 'retry-after': '2' }))).toBe(2000)
    const now = Date.parse('2026-01-01T00:00:00Z')
    expect(retryAfterMs(new Headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:03 GMT' }), now)).toBe(3000)
    expect(retryAfterMs(new Headers({ 'retry-after': 'soon' }))).toBeUndefined()
    expect(retryAfterMs(new Headers())).toBeUndefined()
  })
})

describe('ConcurrencyLimit', () => {
  it('runs waiters in arrival order and frees slots on failure', async () => {
    const limit = new ConcurrencyLimit(1)
    const order: number[] = []
    const failing = limit.run(async () => { order.push(0); throw new Error('boom') })
    const next = [1, 2].map((i) => limit.run(async () => { order.push(i) }))
    await expect(failing).rejects.toThrow('boom')
    await Promise.all(next)
    expect(order).toEqual([0, 1, 2])
  })
})
