// Where a train step's time goes: onnxruntime's per-operator profile of the second of two LoRA r=16
// train runs at the 0.6B widths (recomputation), summed by operator, with the products split into
// the projections' Gemms, the rank-16 adapter Gemms and attention's MatMuls and their FLOP rates.
//   npx tsx bench/train-profile.ts [--layers 28 --length 1024 --threads 2]
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { openCheckpoint } from '../gpu-worker/engine/checkpoint.ts'
import { LORA_TARGETS, type LoraTarget } from '../gpu-worker/engine/qwen3.ts'
import { makeTinyCheckpoint } from '../gpu-worker/engine/tiny.ts'
import { GRPO_LOSS_DEFAULTS, lossWeights } from '../gpu-worker/training/loss.ts'
import { PolicyModel, packBatch } from '../gpu-worker/training/model.ts'

const { values } = parseArgs({ options: { layers: { type: 'string', default: '28' }, length: { type: 'string', default: '1024' }, threads: { type: 'string', default: '2' } } })
const layers = Number(values.layers)
const length = Number(values.length)
const dir = join(import.meta.dirname, '..', '.cache', 'bench', `qwen3-0.6b-widths-${layers}-layers`)
makeTinyCheckpoint(dir, { seed: 1, hiddenSize: 1024, numHeads: 16, numKvHeads: 8, headDim: 128, intermediateSize: 3072, numLayers: layers, vocabSize: 151936, tieWordEmbeddings: true, tokenizer: 'qwen3' })
const base = openCheckpoint(dir)
const profiles = mkdtempSync(join(tmpdir(), 'train-profile-'))
const model = await PolicyModel.create(base.config, (name) => base.weights.read(name, 'float32'), {
  lora: { rank: 16, alpha: 32, targets: Object.keys(LORA_TARGETS) as LoraTarget[] }, loss: GRPO_LOSS_DEFAULTS, seed: 1, recompute: true,
  session: { provider: 'cpu', deviceId: 0, threads: Number(values.threads), profile: join(profiles, 'session') },
})
const tokens = Array.from({ length }, (_, i) => (i * 7919) % 150000)
const batch = packBatch([{ tokens, promptLength: 512, lossMask: new Array(length - 512).fill(1) }], 0)
const old = await model.tokenLogprobs(batch)
const x = { advantages: new Array(batch.length).fill(1), oldLogprobs: old, refLogprobs: old, weights: lossWeights([batch], { kind: 'token-mean' })[0] }
for (let run = 1; run <= 2; run++) {
  const started = performance.now()
  await model.gradients(batch, x)
  console.log(`train run ${run}: ${((performance.now() - started) / 1000).toFixed(1)} s (profiled)`)
}
await model.dispose() // onnxruntime writes each session's profile as it ends

interface Event { cat: string; name: string; dur: number; args: { op_name: string; output_size: string; input_type_shape: Record<string, number[]>[] } }
const kernels = (file: string) => (JSON.parse(readFileSync(join(profiles, file), 'utf8')) as Event[]).filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'))
// the train session's profile is the one with the most kernel events (two runs of the larger graph)
const events = readdirSync(profiles).map(kernels).sort((a, b) => b.length - a.length)[0]
const second = events.slice(events.length / 2)
rmSync(profiles, { recursive: true, force: true })
const seconds = (us: number) => `${(us / 1e6).toFixed(2)} s`
const total = second.reduce((n, e) => n + e.dur, 0)
console.log(`${layers} layers, ${length} positions: ${seconds(total)} of kernels in the second run, ${second.length} nodes`)
const byOp = new Map<string, number>()
for (const e of second) byOp.set(e.args.op_name, (byOp.get(e.args.op_name) ?? 0) + e.dur)
for (const [op, us] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`  ${op.padEnd(18)} ${seconds(us).padStart(8)}  ${((100 * us) / total).toFixed(1)}%`)
// products: FLOPs 2 x output elements x the contracted size (a's per-matrix elements x b's / output's, square-rooted)
const products = new Map<string, { us: number; flops: number; nodes: number }>()
for (const e of second) {
  if (e.args.op_name !== 'Gemm' && e.args.op_name !== 'MatMul') continue
  const [a, b] = e.args.input_type_shape.map((s) => Object.values(s)[0])
  const size = (dims: number[]) => dims.reduce((n, d) => n * d, 1)
  const out = Number(e.args.output_size) / 4
  const matrices = e.args.op_name === 'MatMul' ? size(a.slice(0, -2)) : 1
  const contracted = Math.round(Math.sqrt(((size(a) / matrices) * (size(b) / matrices)) / (out / matrices)))
  const kind = e.args.op_name === 'MatMul' ? 'attention MatMul' : Math.min(...a, ...b) <= 16 ? 'adapter Gemm' : 'projection Gemm'
  const p = products.get(kind) ?? { us: 0, flops: 0, nodes: 0 }
  products.set(kind, { us: p.us + e.dur, flops: p.flops + 2 * out * contracted, nodes: p.nodes + 1 })
}
for (const [kind, p] of products) console.log(`  ${kind.padEnd(18)} ${seconds(p.us).padStart(8)}  ${p.nodes} nodes, ${(p.flops / p.us / 1e3).toFixed(0)} GFLOP/s`)
