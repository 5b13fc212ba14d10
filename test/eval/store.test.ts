// Where scored rows and cached answers live, on both blob stores: parts append, read back whole
// and once each (a part written twice after a lost lease counts once), more parts than are
// fetched at a time, and the response cache round trip.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import type { BlobStore } from '../../shared/blob/store.ts'
import type { EvalRow } from '../../shared/eval/rows.ts'
import { BlobResponseCache, BlobRowStore } from '../../shared/eval/store.ts'
import { testS3Store } from '../helpers/s3.ts'

const row = (index: number, mode: EvalRow['mode'], prediction = `p${index}`): EvalRow => ({
  dataset: 'gsm8k', row: index, mode, question: `q${index}\n"quoted", ünïcode`, golds: ['1'], prediction, scores: { em: 0, f1: 0, substring: 0 },
  environment_prompt_tokens: 1, environment_completion_tokens: 1, agent_tokens: 0, turns: 1, environment_calls: 1,
  latency_ms: 1, error: null, end_reason: null, response: null, trajectory: null,
})

describe.each<[string, () => Promise<BlobStore>]>([
  ['local folder', async () => new LocalBlobStore(mkdtempSync(join(tmpdir(), 'eval-store-')))],
  ['S3', () => testS3Store()],
])('on the %s store', (_name, open) => {
  it('reads back every part, each row once, in writing order', async () => {
    const blobs = await open()
    const store = new BlobRowStore(blobs, 'evals/evaljob-x/rows')
    expect(await store.load()).toEqual([])
    // 20 parts: more than one round of parallel reads
    for (let i = 0; i < 20; i++) await store.append([row(i, 'direct'), row(i, 'agent')])
    await store.append([])
    // a second writer (an attempt that lost its lease) stored row 0 again, later: the first one counts
    await new Promise((resolve) => setTimeout(resolve, 5))
    await new BlobRowStore(blobs, 'evals/evaljob-x/rows').append([row(0, 'direct', 'late')])
    const rows = await store.load()
    expect(rows).toHaveLength(40)
    expect(rows[0]).toEqual(row(0, 'direct'))
    expect(rows.map((r) => r.row)).toEqual(Array.from({ length: 40 }, (_, i) => Math.floor(i / 2)))
    // another job's rows are elsewhere
    expect(await new BlobRowStore(blobs, 'evals/evaljob-y/rows').load()).toEqual([])
  })

  it('caches environment answers', async () => {
    const cache = new BlobResponseCache(await open(), 'env-cache/abc')
    expect(await cache.get('k1')).toBeUndefined()
    await cache.set('k1', 'answer "1"\nwith ünïcode')
    expect(await cache.get('k1')).toBe('answer "1"\nwith ünïcode')
  })
})
