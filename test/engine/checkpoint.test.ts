// Checkpoint files and sources: safetensors dtypes, the tiny checkpoint's tokenizer, loading from
// a blob-store prefix, and the hub's error when it cannot be reached.
import { readFileSync, readdirSync, statSync, utimesSync } from 'node:fs'
import { join } from 'node:path'
import { Tokenizer } from '@huggingface/tokenizers'
import { afterAll, describe, expect, it } from 'vitest'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import { cachedOnnx, openCheckpoint, resolveCheckpoint } from '../../gpu-worker/engine/checkpoint.ts'
import { SafetensorsFolder, writeSafetensors } from '../../gpu-worker/engine/safetensors.ts'
import { makeTinyCheckpoint } from '../../gpu-worker/engine/tiny.ts'
import { removeTempDirs, tempDir } from './helpers.ts'

afterAll(removeTempDirs)

describe('safetensors', () => {
  it('round-trips f32 exactly and bf16/f16 to their precision (nearest even), with subnormals and infinities', () => {
    const dir = tempDir()
    const values = [0, -0, 1, -2.5, 3.14159, 1e-3, 65504, 1e5, -1e-7, 6e-8, 1 + 2 ** -9, 1 + 3 * 2 ** -9]
    writeSafetensors(join(dir, 'model.safetensors'), {
      a: { dtype: 'F32', shape: [3, 4], data: values },
      b: { dtype: 'BF16', shape: [12], data: values },
      c: { dtype: 'F16', shape: [12], data: values },
    })
    const st = new SafetensorsFolder(dir)
    expect(Array.from(st.read('a'))).toEqual(values.map(Math.fround))
    expect(st.entry('a').shape).toEqual([3, 4])
    const bf16 = Array.from(st.read('b'))
    // bf16 keeps 8 significant bits: 1 + 2^-9 rounds to 1 (tie to even), 1 + 3*2^-9 to 1 + 2^-7
    expect(bf16.slice(10)).toEqual([1, 1 + 2 ** -7])
    values.forEach((v, i) => expect(Math.abs(bf16[i] - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -8))
    const f16 = Array.from(st.read('c'))
    expect(f16[6]).toBe(65504)
    expect(f16[7]).toBe(Infinity)
    expect(f16[9]).toBe(2 ** -24) // 6e-8 rounds to the smallest subnormal
    values.slice(0, 7).forEach((v, i) => expect(Math.abs(f16[i] - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11))
  })
})

describe('tiny checkpoint', () => {
  it('is seeded, and its byte-level tokenizer encodes text and the chat special tokens', () => {
    const [a, b, c] = [tempDir(), tempDir(), tempDir()]
    makeTinyCheckpoint(a, { seed: 1 })
    makeTinyCheckpoint(b, { seed: 1 })
    makeTinyCheckpoint(c, { seed: 2 })
    expect(readFileSync(join(a, 'model.safetensors'))).toEqual(readFileSync(join(b, 'model.safetensors')))
    expect(readFileSync(join(a, 'model.safetensors'))).not.toEqual(readFileSync(join(c, 'model.safetensors')))
    const tokenizer = new Tokenizer(JSON.parse(readFileSync(join(a, 'tokenizer.json'), 'utf8')), JSON.parse(readFileSync(join(a, 'tokenizer_config.json'), 'utf8')))
    const ids = tokenizer.encode('<|im_start|>user\nHé 2+3?<|im_end|>').ids
    expect(ids[0]).toBe(257)
    expect(ids[ids.length - 1]).toBe(258)
    expect(ids.length).toBe(2 + 'user\nH'.length + 2 + ' 2+3?'.length) // é is two bytes
    expect(tokenizer.decode(ids, { skip_special_tokens: false })).toBe('<|im_start|>user\nHé 2+3?<|im_end|>')
    expect(Math.max(...ids)).toBeLessThan(openCheckpoint(a).config.vocabSize)
  })
})

describe('ONNX build cache', () => {
  it('builds once per checkpoint and options, and again when the weights change', () => {
    const [src, cache] = [tempDir(), tempDir()]
    makeTinyCheckpoint(src, { seed: 4 })
    const first = cachedOnnx(openCheckpoint(src), cache, { logits: 'last' })
    const built = statSync(first).mtimeMs
    expect(cachedOnnx(openCheckpoint(src), cache, { logits: 'last' })).toBe(first)
    expect(statSync(first).mtimeMs).toBe(built)
    expect(cachedOnnx(openCheckpoint(src), cache, { logits: 'all' })).not.toBe(first)
    utimesSync(join(src, 'model.safetensors'), new Date(), new Date(Date.now() + 5000)) // as if rewritten
    expect(cachedOnnx(openCheckpoint(src), cache, { logits: 'last' })).not.toBe(first)
  })
})

describe('sources', () => {
  it('loads a checkpoint from a blob-store prefix (copied once into the cache)', async () => {
    const [src, root, cache] = [tempDir(), tempDir(), tempDir()]
    makeTinyCheckpoint(src, { seed: 3, maxShardBytes: 200_000 })
    const store = new LocalBlobStore(root)
    for (const file of readdirSync(src)) await store.put(`models/agent-1/${file}`, readFileSync(join(src, file)))
    const dir = await resolveCheckpoint({ store, prefix: 'models/agent-1' }, cache)
    expect(dir.startsWith(cache)).toBe(true)
    expect(openCheckpoint(dir).config).toEqual(openCheckpoint(src).config)
    expect(readFileSync(join(dir, 'model-00002-of-00002.safetensors'))).toEqual(readFileSync(join(src, 'model-00002-of-00002.safetensors')))
    await expect(resolveCheckpoint({ store, prefix: 'models/none' }, cache)).rejects.toThrow(/no config\.json/)
  })

  it('says clearly when the hub cannot be reached, and what a folder path needs', async () => {
    const saved = process.env.HF_ENDPOINT
    process.env.HF_ENDPOINT = 'http://127.0.0.1:9' // nothing listens there: as offline
    try {
      await expect(resolveCheckpoint('hf:Qwen/Qwen3-0.6B', tempDir())).rejects.toThrow(/cannot download .*Qwen\/Qwen3-0\.6B\/resolve\/main\/config\.json \(is this machine offline\?\)/)
    } finally {
      if (saved === undefined) delete process.env.HF_ENDPOINT
      else process.env.HF_ENDPOINT = saved
    }
    await expect(resolveCheckpoint('Qwen/Qwen3-0.6B')).rejects.toThrow(/not a checkpoint folder.*hf:Qwen\/Qwen3-0\.6B/)
  })
})
