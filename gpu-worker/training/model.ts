// The policy being trained: the engine's Qwen3 graph with its trainable parameters as graph inputs
// (LoRA adapters over frozen base weights, or every weight for full fine-tuning), the GRPO loss on
// top and the backward graph below, run as one onnxruntime session per train step. A second,
// forward-only session gives token log-probabilities (old logprobs, and the reference: the same
// graph with the adapters switched off by lora_scale = 0, or the initial weights).
import * as ort from 'onnxruntime-node'
import type { FloatArray, FloatType } from '../engine/onnx.ts'
import { type Adapter, type LoraTarget, type Qwen3Config, buildQwen3, qwen3WeightShapes } from '../engine/qwen3.ts'
import { seededRandom } from '../engine/sampling.ts'
import { exposeOutput, grad } from './autodiff.ts'
import { type GrpoLossOptions, type LossMetric, type TokenWeights, addGrpoLoss, tokenLogprobs } from './loss.ts'

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
  threads?: number
  /** Seeds the adapters' initial A factors. */
  seed?: number
  /** Also build a session for the supervised objective (token NLL), for a warm-start on demonstrations. */
  sft?: boolean
  /** Recompute each layer's activations in the backward (activation checkpointing): less memory, one more forward. */
  recompute?: boolean
}

/** A batch laid out for the graph: rows right-padded to L; position i predicts token i + 1. */
export interface PackedBatch {
  B: number
  L: number
  inputIds: number[]
  attentionMask: number[]
  positionIds: number[]
  targets: number[]
  /** 1 where the target is a token the agent sampled. */
  lossMask: number[]
}

/** A sequence to train on: its tokens, where the response starts, and the response's loss mask. */
export interface TrainRow { tokens: number[]; promptLength: number; lossMask: number[] }

export function packBatch(rows: TrainRow[], padId: number): PackedBatch {
  const B = rows.length
  const L = Math.max(...rows.map((r) => r.tokens.length - 1))
  const batch: PackedBatch = { B, L, inputIds: [], attentionMask: [], positionIds: [], targets: [], lossMask: [] }
  for (const r of rows) {
    for (let i = 0; i < L; i++) {
      const real = i < r.tokens.length - 1
      batch.inputIds.push(real ? r.tokens[i] : padId)
      batch.attentionMask.push(real ? 1 : 0)
      batch.positionIds.push(i)
      batch.targets.push(real ? r.tokens[i + 1] : padId)
      const k = i + 1 - r.promptLength
      batch.lossMask.push(real && k >= 0 ? r.lossMask[k] : 0)
    }
  }
  return batch
}

export interface StepResult { loss: number; metrics: Record<LossMetric, number>; grads: Map<string, FloatArray>; tokenLogprobs: FloatArray }

export class PolicyModel {
  private constructor(
    readonly config: Qwen3Config,
    readonly float: FloatType,
    readonly adapters: Adapter[],
    readonly loraScale: number,
    /** Current values of the trainable parameters, by graph input name. */
    readonly params: Map<string, FloatArray>,
    /** Their initial values (the reference policy of full fine-tuning). */
    readonly initial: Map<string, FloatArray>,
    private readonly shapes: Map<string, number[]>,
    private readonly train: ort.InferenceSession,
    private readonly forward: ort.InferenceSession,
    private readonly sft: ort.InferenceSession | null,
  ) {}

  static async create(c: Qwen3Config, load: (name: string) => FloatArray, options: PolicyModelOptions): Promise<PolicyModel> {
    const float = options.float ?? 'float32'
    const loadAs = (name: string): FloatArray => {
      const v = load(name)
      if (float === 'float32') return v instanceof Float32Array ? v : Float32Array.from(v)
      return v instanceof Float64Array ? v : Float64Array.from(v)
    }
    const built = (head: 'train' | 'logprobs', lossOptions = options.loss) => {
      const lora = options.lora && { rank: options.lora.rank, targets: options.lora.targets }
      const { graph: g, adapters, residualStream } = buildQwen3(c, loadAs, { float, logits: 'all', lora, weightsAsInputs: !lora })
      g.outputs.length = 0 // the KV cache outputs are not needed here
      const params = lora ? adapters.flatMap((a) => [a.a, a.b]) : [...qwen3WeightShapes(c).keys()]
      const logits = 'logits' // [B, L, V]
      if (head === 'logprobs') {
        const targets = g.input('targets', 'int64', ['batch_size', 'sequence_length'])
        exposeOutput(g, 'token_logprobs', tokenLogprobs(g, logits, targets, c.vocabSize).tokenLogp, float, ['batch_size', 'sequence_length'])
      } else {
        const { loss, tokenLogp, metrics } = addGrpoLoss(g, logits, c.vocabSize, lossOptions)
        const grads = grad(g, loss, params, { recompute: options.recompute ? residualStream : undefined })
        exposeOutput(g, 'loss', loss, float, [])
        exposeOutput(g, 'token_logprobs', tokenLogp, float, ['batch_size', 'sequence_length'])
        for (const [name, value] of Object.entries(metrics)) exposeOutput(g, `metric.${name}`, value, float, [])
        for (const p of params) exposeOutput(g, `grad.${p}`, grads.get(p)!, float, g.inputs.find((i) => i.name === p)!.shape)
      }
      return { g, adapters, params }
    }
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: options.threads ?? 1, interOpNumThreads: 1,
      // float64 graphs run unoptimised: the CPU fusions are float-only or round constants to float32.
      graphOptimizationLevel: float === 'float64' ? 'disabled' : 'all',
    }
    const train = built('train')
    const forward = built('logprobs')
    const shapes = new Map(train.params.map((p) => [p, train.g.inputs.find((i) => i.name === p)!.shape as number[]]))
    const params = new Map<string, FloatArray>()
    if (options.lora) {
      // PEFT's initialisation: A ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming-uniform, a = sqrt 5), B = 0, so training starts at the base model.
      const random = seededRandom(options.seed ?? 0)
      const make = (n: number) => (float === 'float32' ? new Float32Array(n) : new Float64Array(n))
      for (const a of train.adapters) {
        const bound = 1 / Math.sqrt(a.inFeatures)
        params.set(a.a, make(a.rank * a.inFeatures).map(() => (2 * random() - 1) * bound))
        params.set(a.b, make(a.outFeatures * a.rank))
      }
    } else {
      for (const name of train.params) params.set(name, loadAs(name).slice())
    }
    const initial = new Map([...params].map(([k, v]) => [k, v.slice()]))
    const [trainSession, forwardSession, sftSession] = await Promise.all([
      ort.InferenceSession.create(train.g.toBytes(), sessionOptions),
      ort.InferenceSession.create(forward.g.toBytes(), sessionOptions),
      // The same graph with the NLL as its loss; it reads the same parameter values.
      options.sft ? ort.InferenceSession.create(built('train', { ...options.loss, objective: 'sft' }).g.toBytes(), sessionOptions) : null,
    ])
    const scale = options.lora ? options.lora.alpha / options.lora.rank : 0
    return new PolicyModel(c, float, train.adapters, scale, params, initial, shapes, trainSession, forwardSession, sftSession)
  }

  /** The shape of a trainable parameter. */
  shape(name: string): number[] { return this.shapes.get(name)! }

  /** Float tensor of the model's type. */
  tensor(data: ArrayLike<number>, dims: number[]): ort.Tensor {
    return this.float === 'float32' ? new ort.Tensor('float32', Float32Array.from(data), dims) : new ort.Tensor('float64', Float64Array.from(data), dims)
  }

  private feeds(batch: PackedBatch, params: Map<string, FloatArray>, adaptersOn: boolean): Record<string, ort.Tensor> {
    const { B, L } = batch
    const int64 = (values: number[]) => new ort.Tensor('int64', BigInt64Array.from(values, BigInt), [B, L])
    const feeds: Record<string, ort.Tensor> = {
      input_ids: int64(batch.inputIds), attention_mask: int64(batch.attentionMask), position_ids: int64(batch.positionIds),
      targets: int64(batch.targets),
    }
    const { numLayers, numKvHeads, headDim } = this.config
    for (let i = 0; i < numLayers; i++) for (const kv of ['key', 'value']) feeds[`past_key_values.${i}.${kv}`] = this.tensor([], [B, numKvHeads, 0, headDim])
    for (const [name, v] of params) feeds[name] = new ort.Tensor(this.float, v, this.shapes.get(name)!)
    if (this.adapters.length) feeds.lora_scale = this.tensor([adaptersOn ? this.loraScale : 0], [])
    return feeds
  }

  /** Token log-probabilities [B * L] under the current parameters, or under the reference policy. */
  async tokenLogprobs(batch: PackedBatch, policy: 'current' | 'reference' = 'current'): Promise<FloatArray> {
    const reference = policy === 'reference'
    const params = reference && !this.adapters.length ? this.initial : this.params
    const out = await this.forward.run(this.feeds(batch, params, !reference))
    return out.token_logprobs.data as FloatArray
  }

  /**
   * Loss, metrics and the gradient of every parameter for one micro-batch, under the GRPO loss or
   * (models created with `sft`) the supervised NLL, which ignores advantages and old/reference logprobs.
   */
  async gradients(
    batch: PackedBatch, x: { advantages: ArrayLike<number>; oldLogprobs: ArrayLike<number>; refLogprobs: ArrayLike<number>; weights: TokenWeights },
    objective: 'grpo' | 'sft' = 'grpo',
  ): Promise<StepResult> {
    const session = objective === 'sft' ? this.sft ?? fail('this model was created without the sft objective') : this.train
    const { B, L } = batch
    const feeds = {
      ...this.feeds(batch, this.params, true),
      loss_weights: this.tensor(x.weights.loss, [B, L]),
      token_weights: this.tensor(x.weights.token, [B, L]),
      advantages: this.tensor(x.advantages, [B, L]),
      old_logprobs: this.tensor(x.oldLogprobs, [B, L]),
      ref_logprobs: this.tensor(x.refLogprobs, [B, L]),
    }
    const out = await session.run(feeds)
    const metrics = {} as Record<LossMetric, number>
    for (const key of Object.keys(out)) if (key.startsWith('metric.')) metrics[key.slice(7) as LossMetric] = Number(out[key].data[0])
    const grads = new Map([...this.params.keys()].map((p) => [p, out[`grad.${p}`].data as FloatArray]))
    return { loss: Number(out.loss.data[0]), metrics, grads, tokenLogprobs: out.token_logprobs.data as FloatArray }
  }

  /** The effective weights W + s B A of every adapted weight (LoRA), or every trained weight (full). */
  mergedWeights(load: (name: string) => FloatArray): Map<string, FloatArray> {
    if (!this.adapters.length) return new Map([...this.params].map(([k, v]) => [k, v.slice()]))
    const merged = new Map<string, FloatArray>()
    for (const ad of this.adapters) {
      const w = load(ad.weight).slice()
      const A = this.params.get(ad.a)!, Bm = this.params.get(ad.b)!
      for (let o = 0; o < ad.outFeatures; o++) {
        for (let i = 0; i < ad.inFeatures; i++) {
          let s = 0
          for (let r = 0; r < ad.rank; r++) s += Bm[o * ad.rank + r] * A[r * ad.inFeatures + i]
          w[o * ad.inFeatures + i] += this.loraScale * s
        }
      }
      merged.set(ad.weight, w)
    }
    return merged
  }

  async dispose() { await Promise.all([this.train.release(), this.forward.release(), this.sft?.release()]) }
}

const fail = (message: string): never => { throw new Error(message) }
