// Client side: the JSON API with the key the user entered (kept in sessionStorage, so it is gone
// with the tab). Self-contained: see dom.ts.

export interface ErrorDetail { code: string; message: string; param: string | null }
export interface ApiErrorShape { status: number; code: string; message: string; param: string | null; details?: ErrorDetail[] }
export interface JobEvent { id: string; seq: number; created_at: number; level: string; type: string; message: string; data: Record<string, unknown> | null }

export function apiKit() {
  const STORAGE_KEY = 'prompt-r1.api-key'

  class ApiError extends Error implements ApiErrorShape {
    status: number
    code: string
    param: string | null
    // every problem of the request (a form marks each field), this one's first
    details: ErrorDetail[]
    constructor(status: number, code: string, message: string, param: string | null, details?: ErrorDetail[]) {
      super(message)
      this.status = status
      this.code = code
      this.param = param
      this.details = details ?? [{ code, message, param }]
    }
  }

  const key = () => sessionStorage.getItem(STORAGE_KEY)
  const setKey = (value: string) => sessionStorage.setItem(STORAGE_KEY, value)
  const forgetKey = () => sessionStorage.removeItem(STORAGE_KEY)

  async function send(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${key() ?? ''}` }
    let payload: BodyInit | undefined
    if (body instanceof FormData) payload = body
    else if (body !== undefined) {
      headers['content-type'] = 'application/json'
      payload = JSON.stringify(body)
    }
    const response = await fetch(path, { method, headers, body: payload, signal })
    if (!response.ok) {
      const text = await response.text()
      let error: Partial<ApiErrorShape> = {}
      try { error = JSON.parse(text).error ?? {} } catch { /* not JSON: keep the text as the message */ }
      throw new ApiError(response.status, error.code ?? `http_${response.status}`, error.message ?? (text || response.statusText), error.param ?? null, error.details)
    }
    return response
  }

  const get = async (path: string) => (await send('GET', path)).json()
  const post = async (path: string, body?: unknown) => (await send('POST', path, body)).json()
  const text = async (path: string) => (await send('GET', path)).text()

  /** Every event after `afterSeq`, following has_more. */
  async function eventsAfter(base: string, afterSeq: number): Promise<JobEvent[]> {
    const out: JobEvent[] = []
    for (let after = afterSeq; ;) {
      const page = await get(`${base}/events?limit=1000&after=${after}`)
      out.push(...page.data)
      if (!page.has_more || page.data.length === 0) return out
      after = page.data.at(-1).seq
    }
  }

  /** The `data:` payloads of a Server-Sent Events response, parsed, until [DONE]. */
  async function* serverSentEvents(path: string, body: unknown, signal: AbortSignal): AsyncGenerator<any> {
    const response = await send('POST', path, body, signal)
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
    let buffer = ''
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return
      buffer += value
      let end: number
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const data = block.split('\n').filter((line) => line.startsWith('data:')).map((line) => line.slice(5).trimStart()).join('\n')
        if (data === '[DONE]') return
        if (data) yield JSON.parse(data)
      }
    }
  }

  /**
   * Saves a file. URLs of this API need the key, so they are fetched here and handed to the browser
   * as a blob; presigned URLs (S3) need nothing and are opened directly.
   */
  async function download(url: string, filename: string) {
    const sameOrigin = new URL(url, location.href).origin === location.origin
    if (!sameOrigin) return follow(url, filename)
    const objectUrl = URL.createObjectURL(await (await send('GET', url)).blob())
    follow(objectUrl, filename)
    setTimeout(() => URL.revokeObjectURL(objectUrl), 60_000)
  }

  /** Saves what a URL that carries its own credential (presigned, or signed by this API) points at. */
  function follow(url: string, filename: string) {
    const link = document.createElement('a')
    link.download = filename
    link.href = url
    document.body.appendChild(link)
    link.click()
    link.remove()
  }

  return { ApiError, key, setKey, forgetKey, get, post, text, eventsAfter, serverSentEvents, download, follow }
}

export type Api = ReturnType<typeof apiKit>
