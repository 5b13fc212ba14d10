// Writes a seeded random tiny Qwen3 checkpoint in Hugging Face format (see gpu-worker/engine/tiny.ts).
//   npm run make-tiny-model -- <dir> [--seed 0] [--tokenizer byte|qwen3] [--dtype F32|BF16|F16]
//     [--hidden 64] [--intermediate 128] [--layers 2] [--heads 4] [--kv-heads 2] [--head-dim 16]
//     [--untied] [--shards 1] [--onnx]      (--onnx also exports <dir>/onnx/model.onnx for transformers.js)
import { parseArgs } from 'node:util'
import { exportOnnx, openCheckpoint } from '../gpu-worker/engine/checkpoint.ts'
import type { StDType } from '../gpu-worker/engine/safetensors.ts'
import { makeTinyCheckpoint } from '../gpu-worker/engine/tiny.ts'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seed: { type: 'string', default: '0' },
    tokenizer: { type: 'string', default: 'byte' },
    dtype: { type: 'string', default: 'F32' },
    hidden: { type: 'string' },
    intermediate: { type: 'string' },
    layers: { type: 'string' },
    heads: { type: 'string' },
    'kv-heads': { type: 'string' },
    'head-dim': { type: 'string' },
    untied: { type: 'boolean', default: false },
    shards: { type: 'string', default: '1' },
    onnx: { type: 'boolean', default: false },
  },
})
const dir = positionals[0]
if (!dir || !['byte', 'qwen3'].includes(values.tokenizer) || !['F32', 'BF16', 'F16'].includes(values.dtype)) {
  console.error('usage: make-tiny-model <dir> [--seed N] [--tokenizer byte|qwen3] [--dtype F32|BF16|F16] [--hidden N] [--intermediate N] [--layers N] [--heads N] [--kv-heads N] [--head-dim N] [--untied] [--shards N] [--onnx]')
  process.exit(2)
}
const int = (v: string | undefined) => (v === undefined ? undefined : Number.parseInt(v, 10))
const config = makeTinyCheckpoint(dir, {
  seed: int(values.seed),
  tokenizer: values.tokenizer as 'byte' | 'qwen3',
  dtype: values.dtype as StDType,
  hiddenSize: int(values.hidden),
  intermediateSize: int(values.intermediate),
  numLayers: int(values.layers),
  numHeads: int(values.heads),
  numKvHeads: int(values['kv-heads']),
  headDim: int(values['head-dim']),
  tieWordEmbeddings: !values.untied,
  shards: int(values.shards),
})
if (values.onnx) exportOnnx(openCheckpoint(dir), dir, { logits: 'all' })
console.log(`wrote ${dir}: ${JSON.stringify(config)}`)
