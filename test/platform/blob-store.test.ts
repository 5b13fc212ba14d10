// The blob-store contract, run against both implementations: the local folder and S3 (the test
// S3-compatible server).
import { mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import { BlobKeyError, type BlobStore, checkBlobKey, readAll } from '../../shared/blob/store.ts'
import { sha256Hex } from '../../shared/ids.ts'
import { testS3Store } from '../helpers/s3.ts'

const MiB = 1024 * 1024

function pseudoRandomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed >>> 0
  for (let i = 0; i < length; i++) {
    x = (x * 1664525 + 1013904223) >>> 0
    out[i] = x >>> 24
  }
  return out
}

// A body that delivers `chunks` chunks and then fails, as a dropped upload connection does.
function failingStream(chunks: number): ReadableStream<Uint8Array> {
  let sent = 0
  return new ReadableStream({
    pull(controller) {
      if (sent++ < chunks) controller.enqueue(pseudoRandomBytes(MiB, sent))
      else controller.error(new Error('connection dropped'))
    },
  })
}

const stores: [string, () => Promise<BlobStore>][] = [
  ['local folder', async () => new LocalBlobStore(mkdtempSync(join(tmpdir(), 'blobs-')))],
  ['S3', () => testS3Store({ partBytes: 5 * MiB })],
]

describe.each(stores)('blob store: %s', (_name, open) => {
  it('stores, reads back, sizes, lists and deletes objects', async () => {
    const store = await open()
    const body = pseudoRandomBytes(1000, 1)
    const info = await store.put('a/b/one.bin', body)
    expect(info).toEqual({ bytes: 1000, sha256: await sha256Hex(body) })
    await store.put('a/two.txt', new TextEncoder().encode('two'))
    await store.put('other/three.txt', new TextEncoder().encode('three'))
    expect(await readAll((await store.get('a/b/one.bin'))!)).toEqual(body)
    expect(await store.size('a/two.txt')).toBe(3)
    expect(await store.list('a/')).toEqual(['a/b/one.bin', 'a/two.txt'])
    await store.delete('a/two.txt')
    expect(await store.get('a/two.txt')).toBeNull()
    expect(await store.size('a/two.txt')).toBeNull()
    expect(await store.list('a/')).toEqual(['a/b/one.bin'])
  })

  it('uploads a large streamed body (multipart on S3) and streams it back intact', async () => {
    const store = await open()
    const body = pseudoRandomBytes(17 * MiB + 123, 7)
    let offset = 0
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= body.length) return controller.close()
        controller.enqueue(body.subarray(offset, offset + 256 * 1024))
        offset += 256 * 1024
      },
    })
    const info = await store.put('big/model.safetensors', stream)
    expect(info.bytes).toBe(body.length)
    expect(info.sha256).toBe(await sha256Hex(body))
    const back = await readAll((await store.get('big/model.safetensors'))!)
    expect(back.length).toBe(body.length)
    expect(await sha256Hex(back)).toBe(info.sha256)
  })

  it('never shows a half-written object under its key', async () => {
    const store = await open()
    await expect(store.put('partial/small.bin', failingStream(1))).rejects.toThrow()
    // past one multipart part on S3
    await expect(store.put('partial/large.bin', failingStream(7))).rejects.toThrow()
    expect(await store.get('partial/small.bin')).toBeNull()
    expect(await store.get('partial/large.bin')).toBeNull()
    expect(await store.list('partial/')).toEqual([])
    // an existing object survives a failed overwrite
    await store.put('partial/kept.bin', new Uint8Array([1, 2, 3]))
    await expect(store.put('partial/kept.bin', failingStream(2))).rejects.toThrow()
    expect(await readAll((await store.get('partial/kept.bin'))!)).toEqual(new Uint8Array([1, 2, 3]))
  })

  it.each(['../escape', 'a/../../b', '/etc/passwd', 'a//b', 'a/./b', 'C:/x', 'a\\b', '', 'a\u0000b'])(
    'refuses the key %j', async (key) => {
      const store = await open()
      await expect(store.put(key, new Uint8Array([1]))).rejects.toThrow(BlobKeyError)
      await expect(store.get(key)).rejects.toThrow(BlobKeyError)
    })
})

describe('blob keys', () => {
  it('accepts ordinary nested keys', () => {
    expect(checkBlobKey('projects/p1/checkpoints/ckpt-1/model.safetensors')).toBe('projects/p1/checkpoints/ckpt-1/model.safetensors')
  })

  it('keeps the local store\'s temporary files out of reach and cleans them up', async () => {
    const root = mkdtempSync(join(tmpdir(), 'blobs-'))
    const store = new LocalBlobStore(root)
    await expect(store.put('.incoming/x', new Uint8Array([1]))).rejects.toThrow(BlobKeyError)
    await expect(store.put('x', failingStream(1))).rejects.toThrow()
    expect(readdirSync(join(root, '.incoming'))).toEqual([])
  })
})

describe('presigned URLs', () => {
  it('S3: a presigned GET URL downloads the object without credentials', async () => {
    const store = await testS3Store()
    const body = pseudoRandomBytes(4096, 3)
    await store.put('ckpt/adapter.safetensors', body)
    const url = await store.presignGet('ckpt/adapter.safetensors', 60)
    expect(url).toMatch(/X-Amz-Signature=/)
    const response = await fetch(url)
    expect(response.status).toBe(200)
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(body)
  })

  it('local folder: no presigned URL (the edge streams instead)', async () => {
    const store = new LocalBlobStore(mkdtempSync(join(tmpdir(), 'blobs-')))
    expect(await store.presignGet()).toBeNull()
  })
})
