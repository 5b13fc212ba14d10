// The GGUF export read by llama.cpp's own code: gguf-py's GGUFReader (live, test/reference/live.py)
// finds the metadata of the config and every weight under llama.cpp's name, F32 bit-exact and Q8_0
// within one quantization step; llama.cpp itself (node-llama-cpp, bench/peers/llamacpp) generates
// the engine's greedy tokens from the F32 file and tokenizes text as our tokenizer does.
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { llamaCppMissing, llamaCppPeer } from '../../bench/common.ts'
import { openCheckpoint } from '../../gpu-worker/engine/checkpoint.ts'
import { Generator } from '../../gpu-worker/engine/generate.ts'
import { ggufTensorName, writeGguf } from '../../gpu-worker/engine/gguf.ts'
import { qwen3WeightShapes } from '../../gpu-worker/engine/qwen3.ts'
import { SafetensorsFolder } from '../../gpu-worker/engine/safetensors.ts'
import { Engine } from '../../gpu-worker/engine/session.ts'
import { makeTinyCheckpoint } from '../../gpu-worker/engine/tiny.ts'
import { ChatTokenizer } from '../../shared/protocol/tokenizer.ts'
import { TEST_ENGINE } from '../helpers/engine.ts'
import { live, liveSkipReason, removeTempDirs, tempDir } from './helpers.ts'

let dir: string
const files = { F32: '', Q8_0: '' }
beforeAll(() => {
  dir = tempDir()
  makeTinyCheckpoint(dir, { seed: 21, hiddenSize: 128, intermediateSize: 256, numLayers: 3, numHeads: 4, numKvHeads: 2, headDim: 32 })
  for (const type of ['F32', 'Q8_0'] as const) writeGguf(openCheckpoint(dir), (files[type] = join(tempDir(), `model-${type}.gguf`)), type)
})
afterAll(removeTempDirs)

const liveSkip = liveSkipReason('GGUF read by gguf-py')

describe.skipIf(liveSkip !== null)('GGUF export read by gguf-py (live)', () => {
  it('carries the config and every weight: F32 bit-exact, Q8_0 within one step of its block', async () => {
    const ckpt = openCheckpoint(dir)
    const c = ckpt.config
    for (const type of ['F32', 'Q8_0'] as const) {
      const out = join(tempDir(), 'values.safetensors')
      const [read] = await live([{ kind: 'gguf-read', file: files[type], out }])
      expect(read.metadata).toMatchObject({
        'general.architecture': 'qwen3', 'general.file_type': type === 'F32' ? 0 : 7,
        'qwen3.block_count': c.numLayers, 'qwen3.embedding_length': c.hiddenSize, 'qwen3.feed_forward_length': c.intermediateSize,
        'qwen3.attention.head_count': c.numHeads, 'qwen3.attention.head_count_kv': c.numKvHeads, 'qwen3.attention.key_length': c.headDim,
        'qwen3.rope.freq_base': c.ropeTheta, 'tokenizer.ggml.model': 'gpt2', 'tokenizer.ggml.tokens': c.vocabSize,
        'tokenizer.ggml.eos_token_id': c.eosTokenIds[0],
      })
      const values = new SafetensorsFolder(join(out, '..'), 'values.safetensors')
      const shapes = qwen3WeightShapes(c)
      expect(read.tensors.length).toBe(shapes.size)
      for (const [name, shape] of shapes) {
        const tensor = read.tensors.find((t: { name: string }) => t.name === ggufTensorName(name))
        expect(tensor, name).toBeDefined()
        expect(tensor.dims).toEqual([...shape].reverse())
        expect(tensor.type).toBe(type === 'Q8_0' && shape.length === 2 ? 'Q8_0' : 'F32')
        const ours = ckpt.weights.read(name, 'float32') as Float32Array
        const theirs = values.read(tensor.name, 'float32') as Float32Array
        if (tensor.type === 'F32') {
          expect(theirs).toEqual(ours)
          continue
        }
        let worstSteps = 0
        for (let b = 0; b < ours.length / 32; b++) {
          const block = ours.subarray(b * 32, b * 32 + 32)
          const step = block.reduce((m, x) => Math.max(m, Math.abs(x)), 0) / 127
          for (let j = 0; j < 32; j++) worstSteps = Math.max(worstSteps, Math.abs(theirs[b * 32 + j] - block[j]) / step)
        }
        expect(worstSteps, name).toBeGreaterThan(0.1) // quantized indeed
        // half a step from rounding to nearest, plus up to 127 x 2^-11 of a step from the fp16 scale
        expect(worstSteps, name).toBeLessThan(0.57)
      }
    }
  })
})

const llamaSkip = llamaCppMissing()
if (llamaSkip) console.warn(`skipped: llama.cpp checks of the GGUF export: ${llamaSkip}`)

describe.skipIf(llamaSkip !== null)('GGUF export run by llama.cpp', () => {
  it("generates the engine's greedy tokens from the F32 file; Q8_0 mostly agrees", async () => {
    const prompts = [[5, 9, 200], Array.from({ length: 40 }, (_, i) => (i * 37) % 250), Array.from({ length: 120 }, (_, i) => (i * i + 3) % 256)]
    const engine = await Engine.load(dir, { ...TEST_ENGINE, cacheDir: tempDir() })
    const generator = new Generator(engine, { maxBatch: 3 })
    const ours = await Promise.all(prompts.map(async (promptIds) => (await generator.generate({ promptIds, maxNewTokens: 24, temperature: 0, stopTokenIds: [] })).tokens))
    await engine.dispose()
    expect(llamaCppPeer({ kind: 'greedy', model: files.F32, prompts, newTokens: 24 })).toEqual(ours)
    const q8: number[][] = llamaCppPeer({ kind: 'greedy', model: files.Q8_0, prompts, newTokens: 24 })
    // a sequence follows its own choices: count the tokens before the first difference
    const sameUntil = q8.map((tokens, s) => { const i = tokens.findIndex((t, j) => t !== ours[s][j]); return i < 0 ? tokens.length : i })
    console.log(`Q8_0 in llama.cpp: greedy tokens equal to the fp32 engine's before the first difference: ${sameUntil.join(', ')} of 24`)
    expect(sameUntil.reduce((a, b) => a + b) / 72).toBeGreaterThan(0.3)
  })

  it("tokenizes text as the checkpoint's tokenizer does (the real Qwen3 vocabulary)", async () => {
    const qwen = tempDir()
    makeTinyCheckpoint(qwen, { seed: 2, tokenizer: 'qwen3', hiddenSize: 32, numHeads: 4, numKvHeads: 2, headDim: 8, intermediateSize: 64, numLayers: 1 })
    const file = join(tempDir(), 'qwen.gguf')
    writeGguf(openCheckpoint(qwen), file)
    const texts = [
      '<|im_start|>user\nWho wrote Dune? Answer in <answer></answer> tags.<|im_end|>\n<|im_start|>assistant\n',
      'Numbers 1234567 and 3.14159, code: `const x = f(y) => y ** 2;`  double  spaces\n\n\ttab',
      'Unicode: naïve café, 東京タワー, Ελληνικά, emoji 🧪🚀, Ångström',
    ]
    const tokenizer = await ChatTokenizer.fromFolder(qwen)
    expect(llamaCppPeer({ kind: 'tokenize', model: file, texts })).toEqual(texts.map((t) => tokenizer.encode(t)))
  })
})
