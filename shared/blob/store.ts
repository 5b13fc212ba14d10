// The blob store: datasets, checkpoints and evaluation outputs. Two implementations share this
// interface: a local folder (the embedded default) and S3 (AWS, R2, any S3-compatible server).
// Both are write-then-commit: an object appears under its key only once it is whole.

export type BlobBody = Uint8Array | ReadableStream<Uint8Array>

export interface BlobInfo { bytes: number; sha256: string }

export interface BlobStore {
  readonly kind: 'local' | 's3'
  put(key: string, body: BlobBody, options?: { contentType?: string }): Promise<BlobInfo>
  // null when there is no such object
  get(key: string): Promise<ReadableStream<Uint8Array> | null>
  size(key: string): Promise<number | null>
  list(prefix: string): Promise<string[]>
  delete(key: string): Promise<void>
  // A URL that anyone holding it can GET until it expires; null where the store cannot make one
  // (the local folder), and the edge streams the object itself.
  presignGet(key: string, expiresSeconds: number): Promise<string | null>
}

export class BlobKeyError extends Error {
  readonly code = 'invalid_blob_key'
}

// Keys are relative, slash-separated paths; nothing in them may step outside the store's root.
export function checkBlobKey(key: string): string {
  const problem =
    typeof key !== 'string' || key.length === 0 ? 'is empty'
    : new TextEncoder().encode(key).length > 1024 ? 'is longer than 1024 bytes'
    : key.startsWith('/') || /^[A-Za-z]:/.test(key) ? 'is absolute'
    : key.includes('\\') ? 'contains a backslash'
    // eslint-disable-next-line no-control-regex
    : /[\u0000-\u001f\u007f]/.test(key) ? 'contains a control character'
    : key.split('/').some((part) => part === '' || part === '.' || part === '..') ? 'has an empty, "." or ".." segment'
    : undefined
  if (problem) throw new BlobKeyError(`blob key ${JSON.stringify(key)} ${problem}`)
  return key
}

export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  let total = 0
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
    chunks.push(chunk)
    total += chunk.length
  }
  const out = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}

export function toStream(body: BlobBody): ReadableStream<Uint8Array> {
  if (body instanceof ReadableStream) return body
  return new ReadableStream({ start(controller) { controller.enqueue(body); controller.close() } })
}
