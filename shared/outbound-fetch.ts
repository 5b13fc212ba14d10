// Every request to a user-given URL leaves through here (Node only). The rules of ./outbound.ts are
// applied three times: to the URL as written, to every address its name resolves to at the moment
// of connecting (so a DNS answer that changes between a check and the request cannot smuggle a
// refused address in), and again to every redirect, which is followed by hand for that reason.
import { type LookupAddress, lookup } from 'node:dns'
import { Agent, fetch as undiciFetch } from 'undici'
import { ApiError } from './errors.ts'
import { forbiddenHost } from './outbound.ts'

export interface OutboundPolicy {
  /** Whether loopback addresses (this machine) may be called: the operator's PROMPT_R1_ALLOW_LOOPBACK_ENVIRONMENT. */
  allowLoopback: boolean
}

const MAX_REDIRECTS = 5

/** A request the policy refused: never retried, and its message names what was refused and why. */
export class OutboundRefusedError extends Error {}

// dns.lookup's signature, the addresses checked before the socket connects to any of them
function checkedLookup(policy: OutboundPolicy) {
  return (hostname: string, options: { all?: boolean }, callback: (error: Error | null, address: string | LookupAddress[], family?: number) => void) => {
    lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, [])
      const refused = refusedAddress(addresses, policy)
      if (refused) return callback(new OutboundRefusedError(`${hostname} resolves to ${refused.address}, which ${refused.why}`), [])
      if (options.all) callback(null, addresses)
      else callback(null, addresses[0].address, addresses[0].family)
    })
  }
}

function refusedAddress(addresses: LookupAddress[], policy: OutboundPolicy): { address: string; why: string } | undefined {
  for (const { address } of addresses) {
    const why = forbiddenHost(address, policy.allowLoopback)
    if (why) return { address, why }
  }
  return undefined
}

function checkUrl(url: URL, policy: OutboundPolicy, what: string): void {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new OutboundRefusedError(`${what} is not an http(s) URL`)
  const why = forbiddenHost(url.hostname, policy.allowLoopback)
  if (why) throw new OutboundRefusedError(`${what} (${url.host}) ${why}`)
}

/** A fetch that obeys the policy: for the OpenAI client and any other caller of a user-given URL. */
export function policyFetch(policy: OutboundPolicy): typeof fetch {
  const dispatcher = new Agent({ connect: { lookup: checkedLookup(policy) } })
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    let url = new URL(input instanceof Request ? input.url : String(input))
    let { method = 'GET', body, headers } = init
    const origin = url.origin
    for (let hop = 0; ; hop++) {
      checkUrl(url, policy, hop === 0 ? 'the URL' : 'a redirect target')
      const response = await undiciFetch(url, { ...init, method, body, headers, redirect: 'manual', dispatcher } as never).catch((error) => {
        // undici reports a refusal at connect time as 'fetch failed' with the reason as its cause
        throw error instanceof Error && error.cause instanceof OutboundRefusedError ? error.cause : error
      })
      const location = response.headers.get('location')
      if (![301, 302, 303, 307, 308].includes(response.status) || !location) return response as unknown as Response
      if (hop === MAX_REDIRECTS) throw new OutboundRefusedError(`more than ${MAX_REDIRECTS} redirects`)
      await response.body?.cancel()
      url = new URL(location, url)
      // as the Fetch standard does: 303 (and 301/302 after a POST) continue as a GET without a body
      if (response.status === 303 || ((response.status === 301 || response.status === 302) && method === 'POST')) {
        method = 'GET'
        body = undefined
      }
      // the credentials were given for the origin the caller named, not for wherever it redirects
      if (url.origin !== origin) {
        const kept = new Headers(headers)
        kept.delete('authorization')
        kept.delete('api-key')
        headers = kept
      }
    }
  }) as typeof fetch
}

/** Before any work starts: the URL's host name resolves only to allowed addresses (a clear 400 instead of a failed turn). */
export async function checkResolvedHost(baseURL: string, policy: OutboundPolicy, param = 'environment.base_url'): Promise<void> {
  const { hostname } = new URL(baseURL)
  const addresses = await new Promise<LookupAddress[]>((resolve) => lookup(hostname.replace(/^\[|\]$/g, ''), { all: true }, (error, found) => resolve(error ? [] : found)))
  const refused = refusedAddress(addresses, policy)
  if (refused) throw new ApiError(400, 'environment_not_allowed', `'${param}' resolves to ${refused.address}: it ${refused.why}`, param)
}
