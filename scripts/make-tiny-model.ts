// Writes a seeded random Qwen3 checkpoint in Hugging Face format (see gpu-worker/engine/tiny.ts): a
// tiny one for tests, or a published geometry with random weights to measure at real sizes.
//   npm run make-tiny-model -- <dir> [--preset qwen3-0.6b|qwen3-1.7b|qwen3-4b] [--seed 0]
//     [--tokenizer byte|qwen3] [--dtype F32|BF16|F16] [--hidden 64] [--intermediate 128] [--layers 2]
//     [--heads 4] [--kv-heads 2] [--head-dim 16] [--untied] [--max-shard-mb 5000]
//     [--onnx]      (--onnx also exports <dir>/onnx/model.onnx for transformers.js)
// A preset sets the geometry, head_dim 128, the real Qwen3 tokenizer, tied embeddings and bf16;
// the other flags override it.
import { parseArgs } from 'node:util'
import { exportOnnx, openCheckpoint } from '../gpu-worker/engine/checkpoint.ts'
import type { StDType } from '../gpu-worker/engine/safetensors.ts'
import { PRESETS, type Preset, type TinyModelOptions, makeTinyCheckpoint, presetOptions } from '../gpu-worker/engine/tiny.ts'

const USAGE = `usage: make-tiny-model <dir> [--preset ${Object.keys(PRESETS).join('|')}] [--seed N] [--tokenizer byte|qwen3] [--dtype F32|BF16|F16] ` +
  '[--hidden N] [--intermediate N] [--layers N] [--heads N] [--kv-heads N] [--head-dim N] [--untied] [--max-shard-mb N] [--onnx]'
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    preset: { type: 'string' },
    seed: { type: 'string', default: '0' },
    tokenizer: { type: 'string' },
    dtype: { type: 'string' },
    hidden: { type: 'string' },
    intermediate: { type: 'string' },
    layers: { type: 'string' },
    heads: { type: 'string' },
    'kv-heads': { type: 'string' },
    'head-dim': { type: 'string' },
    untied: { type: 'boolean', default: false },
    'max-shard-mb': { type: 'string' },
    onnx: { type: 'boolean', default: false },
  },
})
const dir = positionals[0]
const bad = !dir || (values.preset !== undefined && !(values.preset in PRESETS)) ||
  (values.tokenizer !== undefined && !['byte', 'qwen3'].includes(values.tokenizer)) || (values.dtype !== undefined && !['F32', 'BF16', 'F16'].includes(values.dtype))
if (bad) {
  console.error(USAGE)
  process.exit(2)
}
const int = (v: string | undefined) => (v === undefined ? undefined : Number.parseInt(v, 10))
const given: TinyModelOptions = {
  tokenizer: values.tokenizer as TinyModelOptions['tokenizer'],
  dtype: values.dtype as StDType | undefined,
  hiddenSize: int(values.hidden),
  intermediateSize: int(values.intermediate),
  numLayers: int(values.layers),
  numHeads: int(values.heads),
  numKvHeads: int(values['kv-heads']),
  headDim: int(values['head-dim']),
  tieWordEmbeddings: values.untied ? false : undefined,
  maxShardBytes: values['max-shard-mb'] === undefined ? undefined : Number(values['max-shard-mb']) * 1e6,
}
const base = values.preset ? presetOptions(values.preset as Preset) : {}
const options = { ...base, ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)), seed: int(values.seed) }
const started = performance.now()
const config = makeTinyCheckpoint(dir, options)
if (values.onnx) exportOnnx(openCheckpoint(dir), dir, { logits: 'all' })
console.log(`wrote ${dir} in ${((performance.now() - started) / 1000).toFixed(1)} s: ${JSON.stringify(config)}`)
