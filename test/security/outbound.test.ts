// The one outbound-request policy (shared/outbound-fetch.ts) against servers that redirect: every
// hop is checked, credentials stay with the origin they were given for, and a name is checked
// where it resolves at the moment of connecting.
import { readFileSync } from 'node:fs'
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { networkInterfaces } from 'node:os'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OutboundRefusedError, policyFetch } from '../../shared/outbound-fetch.ts'
import { OpenAIEnvironment } from '../../shared/protocol/environment.ts'

interface Seen { path: string; method: string; authorization?: string; body: string }

async function start(handle: (req: IncomingMessage, res: ServerResponse, body: string) => void, host = '0.0.0.0') {
  const seen: Seen[] = []
  const server: Server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => { body += chunk })
    req.on('end', () => {
      seen.push({ path: req.url!, method: req.method!, authorization: req.headers.authorization, body })
      handle(req, res, body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  return { seen, port: (server.address() as AddressInfo).port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

const redirect = (res: ServerResponse, status: number, location: string) => { res.writeHead(status, { location }); res.end() }
const completion = JSON.stringify({ id: 'c', object: 'chat.completion', created: 0, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }] })

// this machine's first address that the policy does not count as loopback
const external = Object.values(networkInterfaces()).flat().find((a) => a && !a.internal && a.family === 'IPv4')?.address

// a name the literal check cannot recognize as loopback (as a DNS name that resolves to 127.0.0.1 would be)
const loopbackName = readFileSync('/etc/hosts', 'utf8').split('\n').map((line) => line.split('#')[0].trim().split(/\s+/))
  .filter(([address]) => address?.startsWith('127.')).flatMap(([, ...names]) => names).find((name) => name !== 'localhost' && !name.endsWith('.localhost'))

let target: Awaited<ReturnType<typeof start>>
let redirector: Awaited<ReturnType<typeof start>>
beforeAll(async () => {
  target = await start((req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(completion) })
  redirector = await start((req, res) => {
    if (req.url!.startsWith('/metadata/')) return redirect(res, 307, `http://169.254.169.254${req.url!.slice('/metadata'.length)}`)
    const to = new URL(req.url!, 'http://x').searchParams.get('to')
    if (to) return redirect(res, Number(new URL(req.url!, 'http://x').searchParams.get('status') ?? 302), to)
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(completion)
  })
})
afterAll(async () => { await target.close(); await redirector.close() })

const via = (host: string, to: string, status = 302) => `http://${host}:${redirector.port}/hop?status=${status}&to=${encodeURIComponent(to)}`

describe('policyFetch', () => {
  it('refuses a redirect to a cloud-metadata address even where loopback is allowed, before connecting', async () => {
    const fetch = policyFetch({ allowLoopback: true })
    await expect(fetch(via('127.0.0.1', 'http://169.254.169.254/latest/meta-data/'))).rejects.toThrow(/redirect target \(169\.254\.169\.254\).*link-local or cloud-metadata/)
  })

  it('refuses a redirect from an allowed host to loopback where loopback is not allowed', async () => {
    if (!external) throw new Error('this machine has no non-loopback IPv4 address to serve the first hop from')
    const fetch = policyFetch({ allowLoopback: false })
    const before = target.seen.length
    // the first hop is allowed and answered
    expect((await fetch(`http://${external}:${redirector.port}/v1`)).status).toBe(200)
    await expect(fetch(via(external, `http://127.0.0.1:${target.port}/v1/chat/completions`, 307))).rejects.toThrow(/redirect target \(127\.0\.0\.1:\d+\).*loopback/)
    await expect(fetch(via(external, `http://localhost:${target.port}/v1/chat/completions`, 307))).rejects.toThrow(OutboundRefusedError)
    expect(target.seen.length).toBe(before)
  })

  it('checks the addresses a name resolves to when it connects', async () => {
    if (!loopbackName) throw new Error('/etc/hosts names no loopback host besides localhost (Debian maps the host name to 127.0.1.1)')
    const fetch = policyFetch({ allowLoopback: false })
    await expect(fetch(`http://${loopbackName}:${target.port}/v1`)).rejects.toThrow(new RegExp(`${loopbackName} resolves to 127\\.[0-9.]+, which points at this server itself`))
  })

  it('follows a same-origin 307 with the method, body and key; drops the key on a cross-origin one', async () => {
    const fetch = policyFetch({ allowLoopback: true })
    const init = { method: 'POST', body: '{"q":1}', headers: { authorization: 'Bearer sk-secret', 'content-type': 'application/json' } }
    const from = target.seen.length
    await fetch(via('127.0.0.1', `http://127.0.0.1:${redirector.port}/same`, 307), init)
    expect(redirector.seen.at(-1)).toMatchObject({ path: '/same', method: 'POST', body: '{"q":1}', authorization: 'Bearer sk-secret' })
    await fetch(via('127.0.0.1', `http://localhost:${target.port}/other`, 307), init)
    expect(target.seen.slice(from)).toEqual([{ path: '/other', method: 'POST', body: '{"q":1}', authorization: undefined }])
    await fetch(via('127.0.0.1', `http://127.0.0.1:${target.port}/after-303`, 303), init)
    expect(target.seen.at(-1)).toMatchObject({ path: '/after-303', method: 'GET', body: '' })
  })

  it('stops after five redirects', async () => {
    const fetch = policyFetch({ allowLoopback: true })
    let url = `http://127.0.0.1:${redirector.port}/end`
    for (let i = 0; i < 6; i++) url = via('127.0.0.1', url)
    await expect(fetch(url)).rejects.toThrow(/more than 5 redirects/)
  })
})

describe('the environment client', () => {
  it('fails at once, with the refusal as its message, when the environment redirects to a refused host', async () => {
    const environment = new OpenAIEnvironment({
      baseURL: `http://127.0.0.1:${redirector.port}/metadata/v1`,
      apiKey: 'sk-secret', model: 'm', policy: { allowLoopback: true }, maxRetries: 3, retryBaseDelayMs: 1,
    })
    const before = redirector.seen.length
    await expect(environment.complete([{ role: 'user', content: 'hi' }])).rejects.toThrow(/redirect target \(169\.254\.169\.254\)/)
    expect(redirector.seen.length - before).toBe(1) // refused, not retried
  })
})
