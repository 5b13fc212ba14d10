// Where an evaluation keeps its scored rows: JSONL parts in the blob store under one prefix, one
// part per batch and mode, written as each batch finishes. A resumed job lists the parts and skips
// every row already in them; the results routes read the same parts. Blob stores cannot append,
// hence parts; a part is whole or absent (the stores commit objects atomically).
import type { ResponseCache } from '../protocol/environment.ts'
import { type BlobStore, readAll } from '../blob/store.ts'
import { type EvalRow, rowKey } from './rows.ts'

export const evalRowsPrefix = (jobId: string) => `evals/${jobId}/rows`

export class BlobRowStore {
  private parts = 0
  constructor(private readonly blobs: BlobStore, private readonly prefix: string) {}

  /** Every stored row, each (dataset, mode, row) once. */
  async load(): Promise<EvalRow[]> {
    const keys = (await this.blobs.list(`${this.prefix}/`)).filter((key) => key.endsWith('.jsonl')).sort()
    // a full evaluation has hundreds of parts: on S3 they are fetched 16 at a time
    const texts: string[] = []
    for (let start = 0; start < keys.length; start += 16) {
      texts.push(...await Promise.all(keys.slice(start, start + 16).map(async (key) => {
        const body = await this.blobs.get(key)
        return body ? new TextDecoder().decode(await readAll(body)) : ''
      })))
    }
    const seen = new Set<string>()
    const rows: EvalRow[] = []
    for (const text of texts) {
      for (const line of text.split('\n')) {
        if (line.trim() === '') continue
        const row = JSON.parse(line) as EvalRow
        if (seen.has(rowKey(row))) continue
        seen.add(rowKey(row))
        rows.push(row)
      }
    }
    return rows
  }

  async append(rows: EvalRow[]): Promise<void> {
    if (rows.length === 0) return
    // time first, so that listing order is writing order; the random part keeps two writers apart
    const name = `${Date.now().toString().padStart(15, '0')}-${String(this.parts++).padStart(6, '0')}-${crypto.randomUUID().slice(0, 8)}`
    const body = new TextEncoder().encode(rows.map((row) => JSON.stringify(row) + '\n').join(''))
    await this.blobs.put(`${this.prefix}/${name}.jsonl`, body, { contentType: 'application/x-ndjson' })
  }
}

/** The environment response cache in the blob store, so every worker shares it and a rerun is free. */
export class BlobResponseCache implements ResponseCache {
  constructor(private readonly blobs: BlobStore, private readonly prefix: string) {}

  async get(key: string): Promise<string | undefined> {
    const body = await this.blobs.get(`${this.prefix}/${key}.json`)
    return body ? JSON.parse(new TextDecoder().decode(await readAll(body))).content : undefined
  }

  async set(key: string, content: string): Promise<void> {
    await this.blobs.put(`${this.prefix}/${key}.json`, new TextEncoder().encode(JSON.stringify({ content })), { contentType: 'application/json' })
  }
}
