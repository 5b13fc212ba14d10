// `prompt-r1 datasets list|pull` against a local HTTP server that serves the published files the
// way the Hugging Face hub does: a paged file listing with LFS sha256s, and downloads that redirect
// to a content server.
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PUBLISHED_DATASETS, datasetFolders, loadPublishedDataset } from '../../datasets/registry.ts'
import { runDatasetsCli } from '../../shared/cli/datasets.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const reference = datasetFolders({}).at(-1)!
// the training set is not in the reference copy: the hub serves the validation file under its name
const served = (path: string) => readFileSync(join(reference, path.replace('train_data/train.', 'train_data/validation.')))
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

let endpoint: string
const requests: string[] = []
const corrupt = new Set<string>()
const server = createServer((request: IncomingMessage, response: ServerResponse) => {
  const url = new URL(request.url!, 'http://hub')
  requests.push(url.pathname)
  const files = PUBLISHED_DATASETS.map((d) => `dataset/${d.path}.parquet`)
  if (url.pathname === '/api/datasets/QwenQKing/Prompt-R1/tree/main' && url.searchParams.get('recursive') === 'true') {
    const entries = files.map((path) => {
      const bytes = served(path.slice('dataset/'.length))
      return { type: 'file', path, size: bytes.length, lfs: { oid: sha256(bytes), size: bytes.length } }
    })
    const page = Number(url.searchParams.get('page') ?? 0)
    const pages = [[{ type: 'directory', path: 'dataset' }, ...entries.slice(0, 5)], entries.slice(5)]
    if (page === 0) response.setHeader('link', `<${endpoint}/api/datasets/QwenQKing/Prompt-R1/tree/main?recursive=true&page=1>; rel="next"`)
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(pages[page]))
    return
  }
  const resolved = /^\/datasets\/QwenQKing\/Prompt-R1\/resolve\/main\/(.+)$/.exec(url.pathname)
  if (resolved && files.includes(resolved[1])) {
    response.writeHead(302, { location: `/cdn/${resolved[1]}` }).end()
    return
  }
  const cdn = /^\/cdn\/dataset\/(.+)$/.exec(url.pathname)
  if (cdn) {
    const bytes = Buffer.from(served(cdn[1]))
    if (corrupt.has(cdn[1])) bytes[100] ^= 1
    response.writeHead(200, { 'content-length': bytes.length, 'content-type': 'application/octet-stream' }).end(bytes)
    return
  }
  response.writeHead(404).end()
})

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

function streams() {
  const out: string[] = []
  const err: string[] = []
  return { out, err, io: { out: { write: (s: string) => out.push(s) }, err: { write: (s: string) => err.push(s), isTTY: false } } }
}

describe('prompt-r1 datasets', () => {
  it('pulls sets from the hub into the data folder, checked and with progress, and skips what is already there', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pull-'))
    const env = { PROMPT_R1_DATA_DIR: dataDir, HF_ENDPOINT: endpoint }
    const first = streams()
    expect(await runDatasetsCli(['pull', 'gsm8k', 'train'], env, first.io)).toBe(0)
    const pulled = join(dataDir, 'datasets', 'prompt-r1')
    expect(readFileSync(join(pulled, 'eval_data/gsm8k.parquet'))).toEqual(readFileSync(join(reference, 'eval_data/gsm8k.parquet')))
    expect(readdirSync(join(pulled, 'train_data'))).toEqual(['train.parquet'])
    expect(first.out.join('')).toMatch(/^gsm8k: pulled 44830 bytes, sha256 7fe0497e.*\ntrain: pulled 1050601 bytes, sha256 e18a304b/)
    // a line per tenth of each file, ending with the whole of it
    const progress = first.err.join('').trim().split('\n')
    expect(progress.length).toBeLessThanOrEqual(22)
    expect(progress.at(-1)).toMatch(/\] 1026\/1026  KiB train /)
    // evaluation and training find them there
    expect(await loadPublishedDataset('gsm8k', 'parquet', datasetFolders(env).slice(0, 1))).toHaveLength(128)
    expect(await loadPublishedDataset('train', 'parquet', datasetFolders(env).slice(0, 1))).toHaveLength(2048)

    const downloads = requests.filter((r) => r.startsWith('/cdn/')).length
    const second = streams()
    expect(await runDatasetsCli(['pull', 'gsm8k'], env, second.io)).toBe(0)
    expect(second.out.join('')).toMatch(/^gsm8k: already here/)
    expect(requests.filter((r) => r.startsWith('/cdn/')).length).toBe(downloads)
  })

  it('keeps nothing of a download whose sha256 is not the published one', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pull-'))
    corrupt.add('eval_data/hotpot.parquet')
    try {
      const run = streams()
      expect(await runDatasetsCli(['pull', 'hotpot'], { PROMPT_R1_DATA_DIR: dataDir, HF_ENDPOINT: endpoint }, run.io)).toBe(1)
      expect(run.err.at(-1)).toMatch(/^prompt-r1 datasets pull: dataset\/eval_data\/hotpot\.parquet: the download's sha256 [0-9a-f]{64} is not the published 5432c889.*; nothing was kept\n$/)
      expect(readdirSync(join(dataDir, 'datasets', 'prompt-r1', 'eval_data'))).toEqual([])
    } finally {
      corrupt.delete('eval_data/hotpot.parquet')
    }
  })

  it('says what is wrong offline, and with an unknown name', async () => {
    // a port nothing listens on
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const { port } = closed.address() as AddressInfo
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    const offline = streams()
    expect(await runDatasetsCli(['pull', 'gsm8k'], { PROMPT_R1_DATA_DIR: mkdtempSync(join(tmpdir(), 'pull-')), HF_ENDPOINT: `http://127.0.0.1:${port}` }, offline.io)).toBe(1)
    expect(offline.err.join('')).toMatch(new RegExp(`^prompt-r1 datasets pull: could not reach http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\); .*needs a network connection`))
    const unknown = streams()
    expect(await runDatasetsCli(['pull', 'gsm9k'], {}, unknown.io)).toBe(2)
    expect(unknown.err.join('')).toMatch(/unknown dataset gsm9k \(published: 2WikiMultihopQA, /)
    expect(await runDatasetsCli(['frobnicate'], {}, streams().io)).toBe(2)
  })

  it('lists every published set with where it is, or the command that gets it', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'pull-'))
    const listed = streams()
    expect(await runDatasetsCli(['list'], { PROMPT_R1_DATASETS_DIR: empty }, listed.io)).toBe(0)
    const lines = listed.out.join('').trim().split('\n')
    expect(lines).toHaveLength(2 + PUBLISHED_DATASETS.length)
    expect(lines).toContain('| train | train | qa | ~40k | missing: prompt-r1 datasets pull train |')
    const withReference = streams()
    await runDatasetsCli(['list'], {}, withReference.io)
    expect(withReference.out.join('')).toContain(`| gsm8k | eval-in-distribution | math | 128 | ${reference}/eval_data/gsm8k.parquet (0.0 MB) |`)
  })

  it('runs as a command', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pull-'))
    const { stdout } = await promisify(execFile)(join(ROOT, 'node_modules/.bin/tsx'), ['bin/prompt-r1.ts', 'datasets', 'pull', 'PopQA'], {
      cwd: ROOT, env: { ...process.env, PROMPT_R1_DATA_DIR: dataDir, HF_ENDPOINT: endpoint },
    })
    expect(stdout).toMatch(/^PopQA: pulled 29895 bytes/)
    expect(existsSync(join(dataDir, 'datasets/prompt-r1/eval_data/PopQA.parquet'))).toBe(true)
  })
})
