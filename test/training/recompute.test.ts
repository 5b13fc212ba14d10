// Recomputation (activation checkpointing): the backward recomputes each layer from the residual
// stream at its input and each chunk of the LM head from the final hidden states, and the
// gradients are the same as without it.
import { afterAll, describe, expect, it } from 'vitest'
import { SafetensorsFolder } from '../../gpu-worker/engine/safetensors.ts'
import { buildQwen3 } from '../../gpu-worker/engine/qwen3.ts'
import { makeTinyCheckpoint } from '../../gpu-worker/engine/tiny.ts'
import { grad, layerSegments } from '../../gpu-worker/training/autodiff.ts'
import { GRPO_LOSS_DEFAULTS, addGrpoLoss, chunkedTokenLogprobs } from '../../gpu-worker/training/loss.ts'
import { PolicyModel } from '../../gpu-worker/training/model.ts'
import { normals, relativeError, removeTempDirs, rolloutBatch, tempDir } from './helpers.ts'
import { TEST_ENGINE } from '../helpers/engine.ts'

afterAll(removeTempDirs)

const OPTIONS = { ...GRPO_LOSS_DEFAULTS, klCoef: 0.05, entropyCoef: 0.01 }
const LORA = { rank: 2, alpha: 4, targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const }

function checkpoint() {
  const dir = tempDir()
  const c = makeTinyCheckpoint(dir, { seed: 4, hiddenSize: 16, numHeads: 2, numKvHeads: 1, headDim: 8, intermediateSize: 24, numLayers: 3 })
  return { c, st: new SafetensorsFolder(dir) }
}

const ROLLOUT = [
  { tokens: [10, 20, 30, 40, 50, 60, 70, 80], promptLength: 3, lossMask: [1, 1, 0, 0, 1] },
  { tokens: [11, 21, 31, 41, 51], promptLength: 2, lossMask: [1, 0, 1] },
]

/** The packed training graph of `length` positions with the loss on top, as PolicyModel builds it. */
function trainingGraph(length: number, chunk: number) {
  const { c, st } = checkpoint()
  const qwen = buildQwen3(c, (n) => st.read(n, 'float32'), { packed: { length, chunk } })
  const g = qwen.graph
  const head = chunkedTokenLogprobs(g, qwen.hidden, qwen.headWeight, g.input('targets', 'int64', [length]), length, chunk, true)
  const { loss } = addGrpoLoss(g, { tokenLogp: head.tokenLogp, entropy: head.entropy, length }, OPTIONS)
  return { c, g, loss, cuts: qwen.residualStream, headSegments: head.segments }
}

describe('recomputation', () => {
  it('cuts the Qwen3 graph at the residual stream between layers', () => {
    const { c, g, cuts } = trainingGraph(16, 16)
    expect(cuts).toHaveLength(c.numLayers + 1)
    expect(g.nodes.find((n) => n.outputs.includes(cuts[0]))!.op).toBe('Gather') // the embedding
    for (const v of cuts.slice(1)) expect(g.nodes.find((n) => n.outputs.includes(v))!.op).toBe('Add') // h + mlp(...)
  })

  // onnxruntime runs every node and orders an unused one last, which keeps its inputs (a layer's
  // activations) alive to the end of the run: at the 0.6B geometry that was 4 GB more at 2048 positions.
  for (const recompute of [false, true]) {
    it(`emits no backward node that nothing uses (LoRA, ${recompute ? 'with' : 'without'} recomputation)`, () => {
      const { c, st } = checkpoint()
      const qwen = buildQwen3(c, (n) => st.read(n, 'float32'), { packed: { length: 32, chunk: 16 }, lora: { rank: LORA.rank, targets: [...LORA.targets] }, weightsAsInputs: true })
      const g = qwen.graph
      const head = chunkedTokenLogprobs(g, qwen.hidden, qwen.headWeight, g.input('targets', 'int64', [32]), 32, 16, true)
      const { loss } = addGrpoLoss(g, { tokenLogp: head.tokenLogp, entropy: head.entropy, length: 32 }, OPTIONS)
      const forward = g.nodes.length
      const params = qwen.adapters.flatMap((a) => [a.a, a.b])
      const grads = grad(g, loss, params, { recompute: recompute ? [...layerSegments(qwen.residualStream), ...head.segments] : [] })
      const read = new Set([...g.nodes.flatMap((n) => n.inputs), ...grads.values()]) // (a frozen weight's gradient would be unused)
      expect(g.nodes.slice(forward).filter((n) => !n.outputs.some((o) => read.has(o))).map((n) => `${n.op} -> ${n.outputs[0]}`)).toEqual([])
    })
  }

  it('leaves no activation inside a layer or a chunk of the LM head to the backward but its recomputed copy', () => {
    const params = ['model.layers.1.mlp.up_proj.weight', 'model.embed_tokens.weight']
    const { c, g, loss, cuts, headSegments } = trainingGraph(32, 16)
    expect(headSegments).toHaveLength(2)
    const forward = g.nodes.length
    const [first, last] = [cuts[0], cuts.at(-1)!].map((v) => g.nodes.findIndex((n) => n.outputs.includes(v)))
    const layerValues = g.nodes.slice(first + 1, last + 1).flatMap((n) => n.outputs).filter((v) => !cuts.includes(v))
    // the chunks' logits: the outputs of the head's Gemms
    const logits = g.nodes.slice(last + 1).filter((n) => n.op === 'Gemm').flatMap((n) => n.outputs)
    expect(logits).toHaveLength(2)
    const inside = new Set([...layerValues, ...logits])
    grad(g, loss, params, { recompute: [...layerSegments(cuts), ...headSegments] })
    const backward = g.nodes.slice(forward)
    // Every projection of every layer but its last (the backward needs the down projection's input,
    // not its output) and both head chunks run again, and the backward reads only those copies.
    const gemms = (nodes: typeof g.nodes) => nodes.filter((n) => n.op === 'Gemm').length
    expect(backward.filter((n) => n.op === 'Gemm' && n.outputs[0].endsWith('.re'))).toHaveLength(gemms(g.nodes.slice(first + 1, forward)) - c.numLayers)
    expect(backward.flatMap((n) => n.inputs).filter((v) => inside.has(v))).toEqual([])
    // Without recomputation the backward reads them directly.
    const plain = trainingGraph(32, 16)
    const n = plain.g.nodes.length
    grad(plain.g, plain.loss, params)
    const plainInside = new Set(plain.g.nodes.slice(0, n).filter((x) => x.op === 'Gemm').flatMap((x) => x.outputs))
    expect(plain.g.nodes.slice(n).flatMap((x) => x.inputs).filter((v) => plainInside.has(v)).length).toBeGreaterThan(0)
  })

  for (const lora of [true, false]) {
    it(`gives bit-identical loss and gradients in float64 (${lora ? 'LoRA' : 'full fine-tuning'})`, async () => {
      const { c, st } = checkpoint()
      const make = (recompute: boolean) => PolicyModel.create(c, (n) => st.read(n, 'float64'), { session: TEST_ENGINE,
        float: 'float64', loss: OPTIONS, seed: 1, recompute, ...(lora ? { lora: { ...LORA, targets: [...LORA.targets] } } : {}),
      })
      const [plain, recomputed] = [await make(false), await make(true)]
      for (const model of [plain, recomputed]) for (const [name, v] of model.params) if (name.endsWith('lora_B.weight')) v.set(normals(v.length, name.length, 0.3))
      const { batch, x } = rolloutBatch(ROLLOUT, 3)
      const [a, b] = [await plain.gradients(batch, x), await recomputed.gradients(batch, x)]
      expect(b.loss).toBe(a.loss)
      expect(b.grads.size).toBe(a.grads.size)
      for (const [name, g] of a.grads) expect(Buffer.from(b.grads.get(name)!.buffer).equals(Buffer.from(g.buffer)), name).toBe(true)
      await Promise.all([plain.dispose(), recomputed.dispose()])
    })
  }

  it('agrees in float32 with the graph optimizer on', async () => {
    const { c, st } = checkpoint()
    const make = (recompute: boolean) => PolicyModel.create(c, (n) => st.read(n, 'float32'), { session: TEST_ENGINE, loss: OPTIONS, recompute })
    const [plain, recomputed] = [await make(false), await make(true)]
    const { batch, x } = rolloutBatch(ROLLOUT, 3)
    const [a, b] = [await plain.gradients(batch, x), await recomputed.gradients(batch, x)]
    expect(Math.abs(b.loss - a.loss)).toBeLessThan(1e-6 * Math.abs(a.loss))
    for (const [name, g] of a.grads) expect(relativeError(b.grads.get(name)!, g), name).toBeLessThan(1e-5)
    await Promise.all([plain.dispose(), recomputed.dispose()])
  })
})
