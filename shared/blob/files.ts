// Files to and from a blob store as streams (Node only: workers and the CLI, never the Cloudflare
// edge), so an object of any size (a 16 GB merged model, optimizer state) never sits in one buffer.
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { BlobInfo, BlobStore } from './store.ts'

/** Uploads the file at `path` under `key`, read as a stream (multipart on S3). */
export function putFile(store: BlobStore, key: string, path: string, options?: { contentType?: string }): Promise<BlobInfo> {
  return store.put(key, Readable.toWeb(createReadStream(path)) as unknown as ReadableStream<Uint8Array>, options)
}

/** Writes the object under `key` to `path`, streamed; false when there is no such object. */
export async function getFile(store: BlobStore, key: string, path: string): Promise<boolean> {
  const body = await store.get(key)
  if (!body) return false
  await mkdir(dirname(path), { recursive: true })
  await pipeline(Readable.fromWeb(body as import('node:stream/web').ReadableStream), createWriteStream(path))
  return true
}
