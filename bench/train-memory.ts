// The memory a train graph needs, without running it: the graph PolicyModel builds for a packed
// length, replayed in onnxruntime's execution order (GraphViewer's default: a reverse DFS from the
// nodes nothing reads, inputs pushed by ascending index, so the newest is explored first), each
// value alive from its node to its last reader, sized by inferShapes. Prints the largest set of live
// values and what it is made of. Weights, inputs and the arena's own overhead are not counted.
//   npx tsx bench/train-memory.ts [--preset qwen3-0.6b --length 8192 --mode lora|full --recompute true|false --head train|logprobs]
import { parseArgs } from 'node:util'
import { openCheckpoint } from '../gpu-worker/engine/checkpoint.ts'
import type { Graph, Node } from '../gpu-worker/engine/onnx.ts'
import { LORA_TARGETS, type LoraTarget } from '../gpu-worker/engine/qwen3.ts'
import type { Preset } from '../gpu-worker/engine/tiny.ts'
import { inferShapes } from '../gpu-worker/training/graph.ts'
import { GRPO_LOSS_DEFAULTS } from '../gpu-worker/training/loss.ts'
import { PolicyModel } from '../gpu-worker/training/model.ts'
import { presetCheckpoint } from './engine-real.ts'

const { values } = parseArgs({
  options: {
    preset: { type: 'string', default: 'qwen3-0.6b' }, length: { type: 'string', default: '2048' },
    mode: { type: 'string', default: 'lora' }, recompute: { type: 'string' }, head: { type: 'string', default: 'train' },
  },
})

/** onnxruntime's order of `g`'s nodes (indices). */
function executionOrder(g: Graph): number[] {
  const producer = new Map(g.nodes.flatMap((n, i) => n.outputs.map((o) => [o, i] as const)))
  const read = new Set(g.nodes.flatMap((n) => n.inputs.flatMap((v) => (producer.has(v) ? [producer.get(v)!] : []))))
  const stack: [number, boolean][] = g.nodes.flatMap((_, i) => (read.has(i) ? [] : [[i, false] as [number, boolean]]))
  const visited = new Set<number>()
  const order: number[] = []
  while (stack.length) {
    const [i, leave] = stack.pop()!
    if (leave) { order.push(i); continue }
    if (visited.has(i)) continue
    visited.add(i)
    stack.push([i, true])
    const inputs = [...new Set(g.nodes[i].inputs.flatMap((v) => (producer.has(v) ? [producer.get(v)!] : [])))].sort((a, b) => a - b)
    for (const p of inputs) if (!visited.has(p)) stack.push([p, false])
  }
  return order
}

const ckpt = openCheckpoint(presetCheckpoint(values.preset as Preset))
const length = Number(values.length)
const model = await PolicyModel.create(ckpt.config, () => new Float32Array(0), {
  loss: GRPO_LOSS_DEFAULTS, recompute: values.recompute === undefined ? undefined : values.recompute === 'true',
  lora: values.mode === 'lora' ? { rank: 16, alpha: 32, targets: Object.keys(LORA_TARGETS) as LoraTarget[] } : undefined,
})
const g = model.graph(length, values.head as 'train' | 'logprobs', GRPO_LOSS_DEFAULTS)
const info = inferShapes(g)
const BYTES: Record<string, number> = { float32: 4, float64: 8, int64: 8, int32: 4, bool: 1 }
const bytes = (v: string) => info.get(v)!.shape.reduce<number>((n, d) => n * (d ?? 1), 1) * (BYTES[info.get(v)!.dtype] ?? 4)
const nodes: Node[] = executionOrder(g).map((i) => g.nodes[i])
const lastRead = new Map(nodes.flatMap((n, i) => n.inputs.map((v) => [v, i] as const)))
const outputs = new Set(g.outputs.map((o) => o.name))
const live = new Map<string, string>() // value -> what made it
let current = 0, peak = 0, peakAt = 0, atPeak: string[] = []
nodes.forEach((n, i) => {
  for (const o of n.outputs) { live.set(o, n.op); current += bytes(o) }
  if (current > peak) [peak, peakAt, atPeak] = [current, i, [...live.keys()]]
  for (const v of new Set([...n.inputs, ...n.outputs])) {
    if (live.has(v) && !outputs.has(v) && (lastRead.get(v) ?? -1) <= i) { current -= bytes(v); live.delete(v) }
  }
})
const kinds = new Map<string, { count: number; bytes: number }>()
for (const v of atPeak) {
  const kind = `${live.get(v) ?? nodes.find((n) => n.outputs.includes(v))!.op} [${info.get(v)!.shape}]`
  const k = kinds.get(kind) ?? { count: 0, bytes: 0 }
  kinds.set(kind, { count: k.count + 1, bytes: k.bytes + bytes(v) })
}
console.log(`${values.preset}, ${values.mode}, ${length} positions, recompute ${model.recomputes(length)}: ${nodes.length} nodes; ` +
  `largest live set ${(peak / 2 ** 30).toFixed(2)} GiB at node ${peakAt} (${nodes[peakAt].op})`)
for (const [kind, k] of [...kinds].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 15)) {
  console.log(`${(k.bytes / 2 ** 20).toFixed(0).padStart(8)} MiB  x${k.count}  ${kind}`)
}
