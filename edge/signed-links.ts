// Links that carry their own credential, for what a browser saves by following a link rather than
// through a script (a checkpoint's archive: gigabytes that must stream to disk, not into a page's
// memory). A link names the API key it was made for and an expiry, and is signed with an HMAC over
// its path and query keyed by that key's stored hash: it opens that one URL only, until it expires
// or the key is revoked, and the key's secret never appears in it.
import type { ApiKey } from '../shared/db/api-keys.ts'
import { ApiError } from '../shared/errors.ts'

const encoder = new TextEncoder()

async function signature(secretHash: string, pathAndQuery: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', encoder.encode(secretHash), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(pathAndQuery)))
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/** `path` with its query, the key id and the expiry, signed. */
export async function signLink(key: Pick<ApiKey, 'id' | 'secretHash'>, path: string, query: Record<string, string>, expiresAt: number): Promise<string> {
  const params = new URLSearchParams({ ...query, key_id: key.id, expires: String(expiresAt) })
  return `${path}?${params}&signature=${await signature(key.secretHash, `${path}?${params}`)}`
}

/** The id of the key a signed URL names; null when the URL carries no signature. */
export function signedKeyId(url: URL): string | null {
  return url.searchParams.has('signature') ? url.searchParams.get('key_id') ?? '' : null
}

/** Throws 401 unless the URL is signed by `key` (as `signLink` signs) and has not expired. */
export async function checkSignedLink(url: URL, key: Pick<ApiKey, 'secretHash'> | undefined): Promise<void> {
  const params = new URLSearchParams(url.search)
  const given = params.get('signature') ?? ''
  params.delete('signature')
  const expires = Number(params.get('expires'))
  const expected = key ? await signature(key.secretHash, `${url.pathname}?${params}`) : ''
  if (!key || given.length !== expected.length || !constantTimeEqual(given, expected)) {
    throw new ApiError(401, 'invalid_signature', 'This link is not valid: ask the API for a new one (GET /v1/checkpoints/{id}/download)')
  }
  if (!Number.isSafeInteger(expires) || expires * 1000 < Date.now()) {
    throw new ApiError(401, 'link_expired', 'This link has expired: ask the API for a new one (GET /v1/checkpoints/{id}/download)')
  }
}

function constantTimeEqual(a: string, b: string): boolean {
  let difference = 0
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return difference === 0
}
