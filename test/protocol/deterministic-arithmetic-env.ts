// A deterministic OpenAI-compatible environment for tests: a real HTTP server on 127.0.0.1 that
// answers the arithmetic in the last user message as the built-in one does ("17 * 23" -> "17 * 23 = 391"). Directives in the
// prompt inject faults, so each failure mode has a reproducible trigger:
//   [status 500 x2]            the first 2 requests with this prompt get HTTP 500
//   [status 429 retry-after 1] the first request with this prompt gets 429 and Retry-After: 1
//   [delay 300]                the answer is sent after 300 ms
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { arithmeticAnswer } from '../../shared/protocol/builtin-environment.ts'

export interface RecordedRequest {
  body: Record<string, unknown>
  messages: { role: string; content: string }[]
  receivedAt: number
  /** When the response was sent; undefined while it is being answered. */
  answeredAt?: number
}

export interface DeterministicArithmeticEnv {
  baseURL: string
  requests: RecordedRequest[]
  close(): Promise<void>
}

const BASE_LATENCY_MS = 15

/** The most of these requests that were being answered at the same moment. */
export function maxConcurrent(requests: RecordedRequest[]): number {
  const events = requests.flatMap((r) => [[r.receivedAt, 1], [r.answeredAt ?? Infinity, -1]])
  // At equal times, count the end first: a request answered at t does not overlap one received at t.
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1])
  let now = 0
  let most = 0
  for (const [, change] of events) most = Math.max(most, (now += change))
  return most
}

export async function startDeterministicArithmeticEnv(): Promise<DeterministicArithmeticEnv> {
  const attemptsByPrompt = new Map<string, number>()
  const env: DeterministicArithmeticEnv = {
    baseURL: '',
    requests: [],
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }),
  }

  async function handle(request: IncomingMessage, response: ServerResponse) {
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    if (request.method !== 'POST' || request.url !== '/v1/chat/completions') {
      response.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'not found' } }))
      return
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    const messages = body.messages as RecordedRequest['messages']
    const recorded: RecordedRequest = { body, messages, receivedAt: Date.now() }
    env.requests.push(recorded)
    const prompt = messages.at(-1)!.content
    const attempt = (attemptsByPrompt.get(prompt) ?? 0) + 1
    attemptsByPrompt.set(prompt, attempt)

    try {
      const delay = /\[delay (\d+)\]/.exec(prompt)
      await new Promise((resolve) => setTimeout(resolve, delay ? Number(delay[1]) : BASE_LATENCY_MS))
      const failures = /\[status 500 x(\d+)\]/.exec(prompt)
      if (failures && attempt <= Number(failures[1])) {
        response.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'deterministic failure' } }))
        return
      }
      const rateLimit = /\[status 429 retry-after (\d+)\]/.exec(prompt)
      if (rateLimit && attempt === 1) {
        response.writeHead(429, { 'content-type': 'application/json', 'retry-after': rateLimit[1] })
          .end(JSON.stringify({ error: { message: 'slow down' } }))
        return
      }
      const content = arithmeticAnswer(prompt)
      const words = (text: string) => text.split(/\s+/).filter(Boolean).length
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
        id: `chatcmpl-${env.requests.length}`,
        object: 'chat.completion',
        created: 0,
        model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content: `  ${content}\n` }, finish_reason: 'stop' }],
        usage: {
          prompt_tokens: messages.reduce((sum, m) => sum + words(m.content), 0),
          completion_tokens: words(content),
          total_tokens: 0,
        },
      }))
    } finally {
      recorded.answeredAt = Date.now()
    }
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error) => response.writeHead(500).end(String(error)))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  env.baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`
  return env
}
