// `prompt-r1 datasets pull`: the published sets from the Hugging Face hub (dataset
// QwenQKing/Prompt-R1) into the data folder. The hub's file list says where each file is and its
// sha256 (the LFS object id); each file is streamed to a partial file while it is hashed, checked
// against the registry's sha256 where the registry knows it (else the hub's), and only then renamed
// into place, so an interrupted or corrupt download never leaves a file that reads as a dataset.
import { createHash } from 'node:crypto'
import { createWriteStream, existsSync } from 'node:fs'
import { mkdir, readFile, rename, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { type PublishedDataset, publishedDataset } from './registry.ts'

export const HUB_DATASET = 'QwenQKing/Prompt-R1'

export interface PullProgress { name: string; bytes: number; total: number | null }

export interface PulledFile { name: string; file: string; bytes: number; sha256: string; skipped: boolean }

interface HubEntry { type: string; path: string; size?: number; lfs?: { oid: string; size: number } }

export class PullError extends Error {}

/** The hub's files of the dataset repository, every page of the listing. */
async function hubFiles(endpoint: string, signal?: AbortSignal): Promise<HubEntry[]> {
  const entries: HubEntry[] = []
  let url: string | null = `${endpoint}/api/datasets/${HUB_DATASET}/tree/main?recursive=true`
  while (url) {
    const response = await hubFetch(url, signal)
    entries.push(...((await response.json()) as HubEntry[]))
    // the hub pages long listings with a Link header
    url = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get('link') ?? '')?.[1] ?? null
  }
  return entries.filter((entry) => entry.type === 'file')
}

async function hubFetch(url: string, signal?: AbortSignal): Promise<Response> {
  let response: Response
  try {
    response = await fetch(url, { signal, redirect: 'follow' })
  } catch (error) {
    signal?.throwIfAborted()
    const cause = (error as { cause?: { code?: string; message?: string } }).cause
    throw new PullError(`could not reach ${new URL(url).origin} (${cause?.code ?? cause?.message ?? (error as Error).message}); datasets are pulled from the Hugging Face hub, which needs a network connection (HF_ENDPOINT names a mirror)`)
  }
  if (!response.ok) throw new PullError(`${url} answered ${response.status} ${response.statusText}`)
  return response
}

/** The hub file of a published set: the one whose path ends with the registry's path. */
function hubEntry(entries: HubEntry[], dataset: PublishedDataset): HubEntry {
  const wanted = `${dataset.path}.parquet`
  const entry = entries.find((e) => e.path === wanted || e.path.endsWith(`/${wanted}`))
  if (!entry) throw new PullError(`the hub dataset ${HUB_DATASET} has no ${wanted}`)
  return entry
}

const sha256Of = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex')

export async function pullDatasets(options: {
  names: string[]
  /** the folder the files go to (pulledDatasetsDir()) */
  dir: string
  /** the hub (HF_ENDPOINT; default https://huggingface.co) */
  endpoint: string
  onProgress?: (progress: PullProgress) => void
  signal?: AbortSignal
}): Promise<PulledFile[]> {
  const datasets = options.names.map(publishedDataset)
  const entries = await hubFiles(options.endpoint, options.signal)
  const pulled: PulledFile[] = []
  for (const dataset of datasets) {
    const entry = hubEntry(entries, dataset)
    const expected = dataset.sha256.parquet ?? entry.lfs?.oid
    if (!expected) throw new PullError(`no sha256 to check ${entry.path} against (the hub lists no LFS object id)`)
    const file = join(options.dir, `${dataset.path}.parquet`)
    if (existsSync(file) && (await sha256Of(file)) === expected) {
      pulled.push({ name: dataset.name, file, bytes: entry.lfs?.size ?? entry.size ?? 0, sha256: expected, skipped: true })
      continue
    }
    const response = await hubFetch(`${options.endpoint}/datasets/${HUB_DATASET}/resolve/main/${entry.path}`, options.signal)
    const total = Number(response.headers.get('content-length')) || entry.lfs?.size || entry.size || null
    const partial = `${file}.partial`
    await mkdir(dirname(file), { recursive: true })
    const hash = createHash('sha256')
    let bytes = 0
    try {
      await pipeline(Readable.fromWeb(response.body as never), async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          hash.update(chunk)
          bytes += chunk.length
          options.onProgress?.({ name: dataset.name, bytes, total })
          yield chunk
        }
      }, createWriteStream(partial), { signal: options.signal })
      const sha256 = hash.digest('hex')
      if (sha256 !== expected) throw new PullError(`${entry.path}: the download's sha256 ${sha256} is not the published ${expected}; nothing was kept`)
      await rename(partial, file)
      pulled.push({ name: dataset.name, file, bytes, sha256, skipped: false })
    } finally {
      await rm(partial, { force: true })
    }
  }
  return pulled
}
