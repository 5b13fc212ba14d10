// The policy being trained: the engine's Qwen3 graph in its packed training form (the episodes of a
// micro-batch packed into one row, attention and the LM head in chunks; qwen3.ts), every weight a
// graph input (the frozen base weights and, with LoRA, the adapters), the GRPO loss on top and the
// backward graph below, run as one session per train step on the engine's native module. Graphs
// have a fixed length, so there is one set of sessions per packed length used (built on first
// use). The weights are one set of arrays in this process, read in place by every session at every
// run: no copy per session, no model protobuf near its 2 GB limit, and full fine-tuning updates the
// very arrays the sessions read. A forward-only session gives token log-probabilities (old
// logprobs, and the reference: the adapters switched off by lora_scale = 0, or the initial weights).
import { mkdtempSync, rmSync } from 'node:fs'
import { totalmem, tmpdir } from 'node:os'
import { join } from 'node:path'
import { type NativeSession, type NativeTensor, type SessionSettings, createSession } from '../engine/native.ts'
import type { FloatArray, FloatType, Graph } from '../engine/onnx.ts'
import { type Adapter, type LoraTarget, type Qwen3Config, buildQwen3, qwen3WeightShapes } from '../engine/qwen3.ts'
import { seededRandom } from '../engine/sampling.ts'
import { exposeOutput, grad, layerSegments } from './autodiff.ts'
import { type GrpoLossOptions, type LossMetric, type TokenWeights, addGrpoLoss, chunkedTokenLogprobs } from './loss.ts'

export interface LoraOptions {
  rank: number
  alpha: number
  targets: LoraTarget[]
}

export interface PolicyModelOptions {
  /** LoRA adapters; without, full fine-tuning of every weight. */
  lora?: LoraOptions
  loss: GrpoLossOptions
  /** float32 to train; float64 for gradient checks. */
  float?: FloatType
  /** Where the sessions run (the worker's engine settings): provider, device, threads; a profile prefix for bench/train-profile.ts. */
  session?: Pick<SessionSettings, 'provider' | 'deviceId' | 'threads' | 'profile'>
  /** Seeds the adapters' initial A factors. */
  seed?: number
  /** Also build a session for the supervised objective (token NLL), for a warm-start on demonstrations. */
  sft?: boolean
  /**
   * Recompute each layer's activations in the backward (activation checkpointing): less memory, one
   * more forward. Unset: where the kept activations of a packed length would pass a quarter of this
   * machine's memory (activationBytes).
   */
  recompute?: boolean
}

/** Attention blocks and LM-head chunks, in positions: a [1024, V] chunk of logits is 622 MB at V = 151936. */
export const CHUNK = 1024

/** The packed length a graph is built for: a power of two up to CHUNK (at least 16), then multiples of CHUNK. */
export const packedLength = (positions: number) =>
  positions <= CHUNK ? Math.max(16, 2 ** Math.ceil(Math.log2(Math.max(1, positions)))) : Math.ceil(positions / CHUNK) * CHUNK

/**
 * Sequences packed into one row of `length` positions: sequence k fills positions
 * [spans[k].start, + spans[k].length), where position i holds token i of the sequence and predicts
 * token i + 1 (its target); positions restart at 0 and attention stays inside the sequence
 * (segment k + 1); the rest is padding (segment 0, loss mask 0).
 */
export interface PackedBatch {
  length: number
  inputIds: number[]
  positionIds: number[]
  segmentIds: number[]
  targets: number[]
  /** 1 where the target is a token the agent sampled. */
  lossMask: number[]
  spans: { start: number; length: number }[]
}

/** A sequence to train on: its tokens, where the response starts, and the response's loss mask. */
export interface TrainRow { tokens: number[]; promptLength: number; lossMask: number[] }

export function packBatch(rows: TrainRow[], padId: number): PackedBatch {
  const used = rows.reduce((n, r) => n + r.tokens.length - 1, 0)
  const length = packedLength(used)
  const batch: PackedBatch = { length, inputIds: [], positionIds: [], segmentIds: [], targets: [], lossMask: [], spans: [] }
  rows.forEach((r, k) => {
    batch.spans.push({ start: batch.inputIds.length, length: r.tokens.length - 1 })
    for (let i = 0; i < r.tokens.length - 1; i++) {
      batch.inputIds.push(r.tokens[i])
      batch.positionIds.push(i)
      batch.segmentIds.push(k + 1)
      batch.targets.push(r.tokens[i + 1])
      const m = i + 1 - r.promptLength
      batch.lossMask.push(m >= 0 ? r.lossMask[m] : 0)
    }
  })
  for (let i = used; i < length; i++) {
    batch.inputIds.push(padId)
    batch.positionIds.push(0)
    batch.segmentIds.push(0)
    batch.targets.push(padId)
    batch.lossMask.push(0)
  }
  return batch
}

/** Each sequence's part of a per-position array of `batch`. */
export const perSequence = (batch: PackedBatch, values: ArrayLike<number>): number[][] =>
  batch.spans.map(({ start, length }) => Array.from({ length }, (_, i) => values[start + i]))

/** A per-position array of `batch` holding each sequence's value (or values, one per position) over its span; 0 on padding. */
export function perPosition(batch: PackedBatch, values: (number | ArrayLike<number>)[]): number[] {
  const out = new Array<number>(batch.length).fill(0)
  batch.spans.forEach(({ start, length }, k) => {
    const v = values[k]
    for (let i = 0; i < length; i++) out[start + i] = typeof v === 'number' ? v : v[i]
  })
  return out
}

/**
 * The bytes a train step keeps for its backward at `length` positions without recomputation
 * (float32): per layer and position about 40 hidden-sized values (projections, norms, rotary
 * halves, LoRA sums), 5 intermediate-sized ones (gate, up, sigmoid, products) and the attention
 * probabilities of its query block (keys up to the block's end: on average (length + CHUNK) / 2).
 * Calibrated on the liveness of the Qwen3-0.6B train graph in onnxruntime's execution order
 * (7.6 GB at 1024 positions; this gives 8.3). What `recompute` is decided on.
 */
export function activationBytes(c: Qwen3Config, length: number): number {
  const keys = length <= CHUNK ? length : (length + CHUNK) / 2
  return c.numLayers * 4 * length * (40 * c.hiddenSize + 5 * c.intermediateSize + c.numHeads * keys)
}

/** One train step's results. `grads` are the model's own output buffers, overwritten by the next step: accumulate them before. */
export interface StepResult { loss: number; metrics: Record<LossMetric, number>; grads: Map<string, FloatArray>; tokenLogprobs: FloatArray }

/** Builds `g`'s session from a file in a scratch folder (removed once the session has read it). */
async function sessionOf(g: Graph, settings: PolicyModelOptions['session']): Promise<NativeSession> {
  const dir = mkdtempSync(join(tmpdir(), 'prompt-r1-train-graph-'))
  try {
    g.save(dir, 'model.onnx')
    // Unoptimised, without the planner's buffer reuse, on the shared arena. The CPU fusions are float-only or round constants to float32,
    // and at the 0.6B widths (4 layers, 4096 positions, LoRA r=16) they cost memory for no speed:
    // with them the process peaked at 9.4 GB, without 6.1 GB, at the same step time (36 s). The shared
    // arena lets the train and logprob sessions of every packed length reuse one another's memory:
    // 11.8 GB with one arena per session (bench/train-rss.ts, docs/training.md). The reuse kept one
    // buffer per attention block size alive across the layers (SessionSettings.memoryReuse).
    return await createSession(join(dir, 'model.onnx'), { ...settings, optimization: 'disabled', memoryPattern: false, memoryReuse: false, sharedArena: true })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

interface Sessions { train: NativeSession; forward: NativeSession; sft: NativeSession | null }

export class PolicyModel {
  /** The gradient output buffers, one per trainable parameter, reused by every step. */
  private readonly gradBuffers: Map<string, FloatArray>
  /** The sessions of each packed length used so far. */
  private readonly sessions = new Map<number, Promise<Sessions>>()

  private constructor(
    readonly config: Qwen3Config,
    readonly float: FloatType,
    readonly adapters: Adapter[],
    readonly loraScale: number,
    /** Current values of the trainable parameters, by graph input name. */
    readonly params: Map<string, FloatArray>,
    /** Their initial values (the reference policy of full fine-tuning). */
    readonly initial: Map<string, FloatArray>,
    /** Every base weight the graphs read: the frozen ones (LoRA), or the parameters themselves (full fine-tuning). */
    private readonly weights: Map<string, FloatArray>,
    private readonly shapes: Map<string, number[]>,
    private readonly options: PolicyModelOptions,
  ) {
    this.gradBuffers = new Map([...params].map(([name, v]) => [name, this.floats(v.length)]))
  }

  static async create(c: Qwen3Config, load: (name: string) => FloatArray, options: PolicyModelOptions): Promise<PolicyModel> {
    const float = options.float ?? 'float32'
    const loadAs = (name: string): FloatArray => {
      const v = load(name)
      if (float === 'float32') return v instanceof Float32Array ? v : Float32Array.from(v)
      return v instanceof Float64Array ? v : Float64Array.from(v)
    }
    const weights = new Map([...qwen3WeightShapes(c).keys()].map((name) => [name, loadAs(name)]))
    const shapes = new Map(qwen3WeightShapes(c))
    // The adapters' names and shapes, from the graph builder (the smallest packed graph; no session).
    const lora = options.lora && { rank: options.lora.rank, targets: options.lora.targets }
    const { adapters } = buildQwen3(c, loadAs, { float, lora, weightsAsInputs: true, packed: { length: 16, chunk: 16 } })
    const params = new Map<string, FloatArray>()
    if (options.lora) {
      // PEFT's initialisation: A ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming-uniform, a = sqrt 5), B = 0, so training starts at the base model.
      const random = seededRandom(options.seed ?? 0)
      const make = (n: number) => (float === 'float32' ? new Float32Array(n) : new Float64Array(n))
      for (const a of adapters) {
        const bound = 1 / Math.sqrt(a.inFeatures)
        params.set(a.a, make(a.rank * a.inFeatures).map(() => (2 * random() - 1) * bound))
        params.set(a.b, make(a.outFeatures * a.rank))
        shapes.set(a.a, [a.rank, a.inFeatures])
        shapes.set(a.b, [a.outFeatures, a.rank])
      }
    } else {
      for (const [name, w] of weights) params.set(name, w)
    }
    const initial = new Map([...params].map(([k, v]) => [k, v.slice()]))
    const scale = options.lora ? options.lora.alpha / options.lora.rank : 0
    return new PolicyModel(c, float, adapters, scale, params, initial, weights, shapes, { ...options, float })
  }

  /** The sessions for packed length `length`, built on first use. */
  private sessionsFor(length: number): Promise<Sessions> {
    let sessions = this.sessions.get(length)
    if (!sessions) this.sessions.set(length, (sessions = this.buildSessions(length)))
    return sessions
  }

  private async buildSessions(length: number): Promise<Sessions> {
    const { options } = this
    const built = (head: 'train' | 'logprobs', lossOptions = options.loss) => this.graph(length, head, lossOptions)
    const session = (g: Graph) => sessionOf(g, options.session)
    return {
      train: await session(built('train')),
      forward: await session(built('logprobs')),
      // The same graph with the NLL as its loss; it reads the same parameter values.
      sft: options.sft ? await session(built('train', { ...options.loss, objective: 'sft' })) : null,
    }
  }

  /** The graph of packed length `length`: token logprobs, and for 'train' the loss, its metrics and every parameter's gradient. */
  graph(length: number, head: 'train' | 'logprobs', lossOptions: GrpoLossOptions): Graph {
    const { float, options, config: c } = this
    const chunk = Math.min(length, CHUNK)
    const recompute = this.recomputes(length)
    const lora = options.lora && { rank: options.lora.rank, targets: options.lora.targets }
    const qwen = buildQwen3(c, () => { throw new Error('training graphs read every weight as an input') }, {
      float, lora, weightsAsInputs: true, packed: { length, chunk },
    })
    const g = qwen.graph
    const targets = g.input('targets', 'int64', [length])
    const withEntropy = head === 'train' && !!lossOptions.entropyCoef
    const { tokenLogp, entropy, segments } = chunkedTokenLogprobs(g, qwen.hidden, qwen.headWeight, targets, length, chunk, withEntropy)
    exposeOutput(g, 'token_logprobs', tokenLogp, float, [length])
    if (head === 'train') {
      const params = [...this.params.keys()]
      const { loss, metrics } = addGrpoLoss(g, { tokenLogp, entropy, length }, lossOptions)
      // the LM head in chunks is recomputed once there are several (one [length, V] chunk is kept)
      const grads = grad(g, loss, params, { recompute: [...(recompute ? layerSegments(qwen.residualStream) : []), ...(segments.length > 1 ? segments : [])] })
      exposeOutput(g, 'loss', loss, float, [])
      for (const [name, value] of Object.entries(metrics)) exposeOutput(g, `metric.${name}`, value, float, [])
      for (const p of params) exposeOutput(g, `grad.${p}`, grads.get(p)!, float, this.shapes.get(p)!)
    }
    return g
  }

  /** Whether the train graph of packed length `length` recomputes each layer in the backward (the option, else when its activations would not fit). */
  recomputes(length: number): boolean {
    return this.options.recompute ?? activationBytes(this.config, length) > totalmem() / 4
  }

  /** The shape of a trainable parameter. */
  shape(name: string): number[] { return this.shapes.get(name)! }

  private floats(n: number): FloatArray { return this.float === 'float32' ? new Float32Array(n) : new Float64Array(n) }

  /** A tensor of the model's float type over `data` itself when it has that type, else over a converted copy. */
  private tensor(data: ArrayLike<number>, dims: number[]): NativeTensor {
    const Type = this.float === 'float32' ? Float32Array : Float64Array
    return { type: this.float, dims, data: data instanceof Type ? data : Type.from(data) }
  }

  /** The inputs of a run: the batch, every weight (`params` over the base ones: current, or the initial values), the LoRA scale. */
  private inputs(batch: PackedBatch, params: Map<string, FloatArray>, adaptersOn: boolean): [string, NativeTensor][] {
    const int64 = (values: number[]): NativeTensor => ({ type: 'int64', dims: [batch.length], data: BigInt64Array.from(values, BigInt) })
    const inputs: [string, NativeTensor][] = [
      ['input_ids', int64(batch.inputIds)], ['position_ids', int64(batch.positionIds)], ['segment_ids', int64(batch.segmentIds)],
      ['targets', int64(batch.targets)],
    ]
    for (const [name, w] of this.weights) inputs.push([name, this.tensor(params.get(name) ?? w, this.shapes.get(name)!)])
    if (this.adapters.length) {
      for (const a of this.adapters) for (const name of [a.a, a.b]) inputs.push([name, this.tensor(params.get(name)!, this.shapes.get(name)!)])
      inputs.push(['lora_scale', this.tensor([adaptersOn ? this.loraScale : 0], [])])
    }
    return inputs
  }

  /** Token log-probabilities [length] of a packed batch under the current parameters, or under the reference policy. */
  async tokenLogprobs(batch: PackedBatch, policy: 'current' | 'reference' = 'current'): Promise<FloatArray> {
    const reference = policy === 'reference'
    const params = reference && !this.adapters.length ? this.initial : this.params
    const out = this.floats(batch.length)
    const { forward } = await this.sessionsFor(batch.length)
    await forward.run(this.inputs(batch, params, !reference), [['token_logprobs', this.tensor(out, [batch.length])]])
    return out
  }

  /**
   * Loss, metrics and the gradient of every parameter for one micro-batch, under the GRPO loss or
   * (models created with `sft`) the supervised NLL, which ignores advantages and old/reference logprobs.
   */
  async gradients(
    batch: PackedBatch, x: { advantages: ArrayLike<number>; oldLogprobs: ArrayLike<number>; refLogprobs: ArrayLike<number>; weights: TokenWeights },
    objective: 'grpo' | 'sft' = 'grpo',
  ): Promise<StepResult> {
    const sessions = await this.sessionsFor(batch.length)
    const session = objective === 'sft' ? sessions.sft ?? fail('this model was created without the sft objective') : sessions.train
    const rows = (data: ArrayLike<number>) => this.tensor(data, [batch.length])
    const inputs: [string, NativeTensor][] = [
      ...this.inputs(batch, this.params, true),
      ['loss_weights', rows(x.weights.loss)], ['token_weights', rows(x.weights.token)], ['advantages', rows(x.advantages)],
      ['old_logprobs', rows(x.oldLogprobs)], ['ref_logprobs', rows(x.refLogprobs)],
    ]
    const loss = this.floats(1)
    const tokenLogp = this.floats(batch.length)
    const metricNames = session.outputs.filter((o) => o.name.startsWith('metric.')).map((o) => o.name)
    const metricValues = metricNames.map(() => this.floats(1))
    await session.run(inputs, [
      ['loss', this.tensor(loss, [])], ['token_logprobs', rows(tokenLogp)],
      ...metricNames.map((name, i): [string, NativeTensor] => [name, this.tensor(metricValues[i], [])]),
      ...[...this.gradBuffers].map(([name, g]): [string, NativeTensor] => [`grad.${name}`, this.tensor(g, this.shapes.get(name)!)]),
    ])
    const metrics = Object.fromEntries(metricNames.map((name, i) => [name.slice(7), metricValues[i][0]])) as Record<LossMetric, number>
    return { loss: loss[0], metrics, grads: this.gradBuffers, tokenLogprobs: tokenLogp }
  }

  /** The effective value of base weight `name`: W + s B A where it is adapted (LoRA), the trained weight (full), else the base one. */
  mergedWeight(name: string, load: (name: string) => FloatArray): FloatArray {
    if (!this.adapters.length) return this.params.get(name) ?? load(name)
    const ad = this.adapters.find((a) => a.weight === name)
    if (!ad) return load(name)
    const w = load(name).slice()
    const A = this.params.get(ad.a)!, Bm = this.params.get(ad.b)!
    for (let o = 0; o < ad.outFeatures; o++) {
      const row = w.subarray(o * ad.inFeatures, (o + 1) * ad.inFeatures)
      for (let r = 0; r < ad.rank; r++) {
        const coef = this.loraScale * Bm[o * ad.rank + r]
        const a = A.subarray(r * ad.inFeatures, (r + 1) * ad.inFeatures)
        for (let i = 0; i < row.length; i++) row[i] += coef * a[i]
      }
    }
    return w
  }

  async dispose() {
    for (const sessions of this.sessions.values()) {
      const { train, forward, sft } = await sessions
      for (const session of [train, forward, sft]) session?.release()
    }
  }
}

const fail = (message: string): never => { throw new Error(message) }
