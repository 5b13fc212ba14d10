// multipart/form-data read as it arrives (web streams: Node and Workers alike). Each part's body is
// a stream the caller reads before asking for the next part, so an upload is never held whole:
// only the bytes not yet handed on, at most one chunk and a boundary's length, are kept.
import { ApiError } from '../shared/errors.ts'

export interface Part {
  name: string
  filename?: string
  body: ReadableStream<Uint8Array>
}

const MAX_HEADER_BYTES = 16 * 1024
const CRLF = new Uint8Array([13, 10])
const bad = (why: string) => new ApiError(400, 'invalid_multipart', `The multipart body could not be read: ${why}`)

export function boundaryOf(contentType: string): string {
  const match = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType)
  if (!match) throw bad('the Content-Type names no boundary')
  return match[1] ?? match[2]
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  for (let i = haystack.indexOf(needle[0], from); i >= 0 && i <= haystack.length - needle.length; i = haystack.indexOf(needle[0], i + 1)) {
    let j = 1
    while (j < needle.length && haystack[i + j] === needle[j]) j++
    if (j === needle.length) return i
  }
  return -1
}

function join(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

export async function* multipartParts(body: ReadableStream<Uint8Array>, boundary: string): AsyncGenerator<Part> {
  const reader = body.getReader()
  const encoder = new TextEncoder()
  const delimiter = encoder.encode(`\r\n--${boundary}`)
  let pending: Uint8Array = new Uint8Array(0)
  const more = async () => {
    const { done, value } = await reader.read()
    if (done) return false
    pending = join(pending, value)
    return true
  }
  // until `needle` is in the pending bytes (index), or the body ends (-1)
  const find = async (needle: Uint8Array, limit = Infinity) => {
    for (;;) {
      const at = indexOf(pending, needle)
      if (at >= 0) return at
      if (pending.length > limit) throw bad('a part\'s headers are too long')
      if (!(await more())) return -1
    }
  }
  // the first delimiter has no CRLF before it when the body starts with it
  pending = join(CRLF, pending)
  let at = await find(delimiter)
  if (at < 0) throw bad('no part starts with the boundary')
  pending = pending.subarray(at + delimiter.length)
  for (;;) {
    while (pending.length < 2) if (!(await more())) throw bad('the body ends inside a delimiter')
    if (pending[0] === 45 && pending[1] === 45) return // "--": the closing delimiter
    at = await find(encoder.encode('\r\n\r\n'), MAX_HEADER_BYTES)
    if (at < 0) throw bad('the body ends inside a part\'s headers')
    const headers = new TextDecoder().decode(pending.subarray(0, at))
    pending = pending.subarray(at + 4)
    const disposition = /^content-disposition:\s*form-data(.*)$/im.exec(headers)?.[1]
    const name = disposition && /;\s*name="([^"]*)"/i.exec(disposition)?.[1]
    if (name === undefined || name === null) throw bad('a part has no Content-Disposition name')
    const filename = disposition ? /;\s*filename="([^"]*)"/i.exec(disposition)?.[1] : undefined

    let finished!: () => void
    let failed!: (error: unknown) => void
    const done = new Promise<void>((resolve, reject) => { finished = resolve; failed = reject })
    done.catch(() => {}) // the error reaches the reader through the part's stream; here it only ends the loop
    let ended = false
    // hands on what cannot be the start of the delimiter; at the delimiter, the part ends
    const next = async (): Promise<Uint8Array | undefined> => {
      for (;;) {
        const end = indexOf(pending, delimiter)
        if (end >= 0) {
          const last = pending.subarray(0, end)
          pending = pending.subarray(end + delimiter.length)
          ended = true
          return last
        }
        const safe = pending.length - delimiter.length + 1
        if (safe > 0) {
          const out = pending.slice(0, safe)
          pending = pending.subarray(safe)
          return out
        }
        if (!(await more())) throw bad('the body ends inside a part')
      }
    }
    const part = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const chunk = await next()
          if (chunk?.length) controller.enqueue(chunk)
          if (ended) { controller.close(); finished() }
        } catch (error) {
          controller.error(error)
          failed(error)
        }
      },
      // a part the caller does not want: read past it to the next one
      async cancel() {
        try {
          while (!ended) await next()
          finished()
        } catch (error) {
          failed(error)
        }
      },
    }, { highWaterMark: 0 })
    yield { name, filename: filename ?? undefined, body: part }
    await done
    // what follows the delimiter: "--" (the last part) or the CRLF before the next part's headers
    while (pending.length < 2) if (!(await more())) throw bad('the body ends after a part')
    if (pending[0] === 13 && pending[1] === 10) pending = pending.subarray(2)
  }
}
