// The memory and time of one LoRA r=16 train step at the 0.6B widths (hidden 1024, 16 / 8 heads,
// head_dim 128, intermediate 3072, vocab 151936), with fewer layers if asked (the LM head and one
// layer's recomputation are most of a step's memory): one packed row of `length` positions, the
// logprob run, two train steps and a second logprob run, with the process's RSS and peak after each.
// Quicker than a `bench:train` case, which also runs the PyTorch peer.
//   npx tsx bench/train-rss.ts [--layers 28 --length 4096 --recompute true|false|auto]
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { openCheckpoint } from '../gpu-worker/engine/checkpoint.ts'
import { LORA_TARGETS, type LoraTarget } from '../gpu-worker/engine/qwen3.ts'
import { makeTinyCheckpoint } from '../gpu-worker/engine/tiny.ts'
import { GRPO_LOSS_DEFAULTS, lossWeights } from '../gpu-worker/training/loss.ts'
import { PolicyModel, packBatch, packedLength } from '../gpu-worker/training/model.ts'

const { values } = parseArgs({ options: { layers: { type: 'string', default: '28' }, length: { type: 'string', default: '4096' }, threads: { type: 'string', default: '2' }, recompute: { type: 'string', default: 'true' } } })
const layers = Number(values.layers)
const length = Number(values.length)
const memory = () => {
  const status = readFileSync('/proc/self/status', 'utf8')
  const gb = (field: string) => (Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)![1]) / 2 ** 20).toFixed(2)
  return `RSS ${gb('VmRSS')} GB, peak ${gb('VmHWM')} GB`
}
const timed = async (what: string, work: () => Promise<unknown>) => {
  const started = performance.now()
  await work()
  console.log(`${what}: ${((performance.now() - started) / 1000).toFixed(1)} s, ${memory()}`)
}

const dir = join(import.meta.dirname, '..', '.cache', 'bench', `qwen3-0.6b-widths-${layers}-layers`)
makeTinyCheckpoint(dir, { seed: 1, hiddenSize: 1024, numHeads: 16, numKvHeads: 8, headDim: 128, intermediateSize: 3072, numLayers: layers, vocabSize: 151936, tieWordEmbeddings: true, tokenizer: 'qwen3' })
const base = openCheckpoint(dir)
const model = await PolicyModel.create(base.config, (name) => base.weights.read(name, 'float32'), {
  lora: { rank: 16, alpha: 32, targets: Object.keys(LORA_TARGETS) as LoraTarget[] }, loss: GRPO_LOSS_DEFAULTS,
  session: { provider: 'cpu', deviceId: 0, threads: Number(values.threads) }, seed: 1, recompute: values.recompute === 'auto' ? undefined : values.recompute === 'true',
})
console.log(`${layers} layers, ${length} positions, LoRA r=16 on every projection, recomputation ${model.recomputes(packedLength(length))}; weights loaded: ${memory()}`)
const tokens = Array.from({ length }, (_, i) => (i * 7919) % 150000)
const batch = packBatch([{ tokens, promptLength: 512, lossMask: new Array(length - 512).fill(1) }], 0)
let old = new Float32Array(0) as ArrayLike<number>
await timed('logprobs (with the session build)', async () => { old = await model.tokenLogprobs(batch) })
const x = { advantages: new Array(batch.length).fill(1), oldLogprobs: old, refLogprobs: old, weights: lossWeights([batch], { kind: 'token-mean' })[0] }
await timed('train step 1 (with the session build)', () => model.gradients(batch, x))
await timed('train step 2', () => model.gradients(batch, x))
await timed('logprobs again', () => model.tokenLogprobs(batch))
