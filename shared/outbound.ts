// The host rules of every outbound request to a user-given URL. The server makes these requests,
// so a caller could otherwise use it to reach addresses only the server can: link-local and cloud
// metadata addresses are always refused, loopback only where the operator allows it. Pure (the
// edge checks URLs as written, in Node and in Workers); ./outbound-fetch.ts applies the same rules
// to resolved addresses and redirects when the worker makes the request.
import { ApiError } from './errors.ts'

const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata', 'metadata.azure.com', 'instance-data'])

export function checkEnvironmentUrl(raw: string, allowLoopback: boolean, param = 'environment.base_url'): string {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new ApiError(400, 'invalid_parameter', `Invalid '${param}': not a URL`, param)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ApiError(400, 'invalid_parameter', `Invalid '${param}': must be an http(s) URL`, param)
  }
  if (url.username || url.password) {
    throw new ApiError(400, 'invalid_parameter', `Invalid '${param}': credentials go in environment.api_key, not the URL`, param)
  }
  const why = forbiddenHost(url.hostname, allowLoopback)
  if (why) throw new ApiError(400, 'environment_not_allowed', `'${param}' ${why}`, param)
  return url.toString().replace(/\/$/, '')
}

// Why a host name or address may not be called (also applied to every address a name resolves to)
export function forbiddenHost(hostname: string, allowLoopback: boolean): string | undefined {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (METADATA_HOSTS.has(host) || isLinkLocal(host)) return 'points at a link-local or cloud-metadata address, which is never allowed'
  if (!allowLoopback && isLoopback(host)) return 'points at this server itself (loopback), which this server does not allow'
  return undefined
}

function ipv4(host: string): number[] | undefined {
  const parts = host.split('.')
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) < 256)) return undefined
  return parts.map(Number)
}

// an IPv4 address written inside IPv6 (::ffff:a.b.c.d or its hex form)
function mappedIpv4(host: string): number[] | undefined {
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host)
  if (dotted) return ipv4(dotted[1])
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host)
  if (!hex) return undefined
  const [high, low] = [parseInt(hex[1], 16), parseInt(hex[2], 16)]
  return [high >> 8, high & 255, low >> 8, low & 255]
}

function isLinkLocal(host: string): boolean {
  const v4 = ipv4(host) ?? mappedIpv4(host)
  if (v4) return v4[0] === 169 && v4[1] === 254
  return /^fe[89ab][0-9a-f]:/.test(host) || host === 'fd00:ec2::254'
}

function isLoopback(host: string): boolean {
  const v4 = ipv4(host) ?? mappedIpv4(host)
  if (v4) return v4[0] === 127 || v4.every((b) => b === 0)
  return host === '::1' || host === '::' || host === 'localhost' || host.endsWith('.localhost')
}
