// The serving engine: a Qwen3 checkpoint built as the 'slots' graph (qwen3.ts: the KV cache
// appended in place, the sampling helpers in the graph) and run through the native module
// (native.ts), so no cache is copied per token, no output is copied out, and runs leave the event
// loop free. Weights are fp32 by default, or 8- / 4-bit blocks (quantize); rollouts during training
// feed the trainer's LoRA factors or weights straight from its arrays, so a new policy needs no
// export or rebuild.
import { type Checkpoint, type ModelSource, cachedOnnx, defaultCacheDir, openCheckpoint, resolveCheckpoint } from './checkpoint.ts'
import { type NativeSession, type NativeTensor, type SessionSettings, createSession } from './native.ts'
import type { LoraTarget, Qwen3Config } from './qwen3.ts'
import { SlotCache } from './cache.ts'

export interface EngineOptions extends SessionSettings {
  /** Where downloaded checkpoints and built ONNX files are kept (default $PROMPT_R1_CACHE or ~/.cache/prompt-r1). */
  cacheDir?: string
  /** 'last' (default): the logits of each row's last position and the sampling helpers, for generation; 'all': every position (scoring). */
  logits?: 'all' | 'last'
  /** Weight-only quantization of the projections and the LM head: 8 or 4 bits in blocks of 32 (default: none, fp32). */
  quantize?: 8 | 4
  /** LoRA adapters fed at every run: the trainer's factor arrays (by PEFT name), read where they are, and their scale. */
  lora?: { rank: number; targets: LoraTarget[]; factors: Map<string, Float32Array>; scale: () => number }
  /** Every weight fed at every run from these arrays (full fine-tuning), read where they are. */
  weights?: Map<string, Float32Array>
  /**
   * Build the graph's own draw (next_token, by a cumulative sum over the vocabulary) for generators
   * that sample in the graph; default: on CUDA, where it keeps the weights on the device. On a CPU
   * the host sampler draws from the weights, and the cumulative sum would cost about 30 ms a step at
   * batch 32 and V = 151936 for nothing.
   */
  graphDraw?: boolean
}

export class Engine {
  private constructor(
    readonly checkpoint: Checkpoint,
    readonly onnxPath: string,
    readonly session: NativeSession,
    readonly options: EngineOptions,
  ) {}

  get config(): Qwen3Config { return this.checkpoint.config }
  get provider(): 'cpu' | 'cuda' { return this.options.provider ?? 'cpu' }
  get graphDraw(): boolean { return this.options.graphDraw ?? this.provider === 'cuda' }

  static async load(source: ModelSource, options: EngineOptions = {}): Promise<Engine> {
    return Engine.fromCheckpoint(openCheckpoint(await resolveCheckpoint(source, options.cacheDir ?? defaultCacheDir())), options)
  }

  static async fromCheckpoint(checkpoint: Checkpoint, options: EngineOptions = {}): Promise<Engine> {
    const lora = options.lora && { rank: options.lora.rank, targets: options.lora.targets }
    const onnxPath = cachedOnnx(checkpoint, options.cacheDir ?? defaultCacheDir(), {
      cache: 'slots', logits: options.logits ?? 'last', quantize: options.quantize, lora, weightsAsInputs: !!options.weights,
      draw: options.graphDraw ?? (options.provider ?? 'cpu') === 'cuda',
    })
    return new Engine(checkpoint, onnxPath, await createSession(onnxPath, options), options)
  }

  /** What every run takes besides the step's own inputs: the adapters and their scale, or the weights. */
  private fixedInputs(): [string, NativeTensor][] {
    const fixed: [string, NativeTensor][] = []
    const shapeOf = (name: string) => this.session.inputs.find((i) => i.name === name)!.dims
    for (const [name, data] of this.options.lora?.factors ?? []) fixed.push([name, { type: 'float32', dims: shapeOf(name), data }])
    if (this.options.lora) fixed.push(['lora_scale', { type: 'float32', dims: [], data: Float32Array.of(this.options.lora.scale()) }])
    for (const [name, data] of this.options.weights ?? []) fixed.push([name, { type: 'float32', dims: shapeOf(name), data }])
    return fixed
  }

  /** One run of the graph: the step's inputs (the cache among them) and outputs, written where they point. */
  run(inputs: [string, NativeTensor][], outputs: [string, NativeTensor][]): Promise<void> {
    return this.session.run([...inputs, ...this.fixedInputs()], outputs)
  }

  /**
   * The logits of every position of each prompt ('all' engines), each prompt run alone from an
   * empty cache: [prompt][position] -> [V].
   */
  async promptLogits(prompts: number[][]): Promise<Float32Array[][]> {
    if ((this.options.logits ?? 'last') !== 'all') throw new Error("promptLogits needs an engine loaded with logits: 'all'")
    const V = this.config.vocabSize
    const out: Float32Array[][] = []
    for (const ids of prompts) {
      const cache = new SlotCache(this.config, Infinity)
      cache.reserve(1, ids.length, [0])
      const { past, present } = cache.tensors(0, 1)
      const logits = new Float32Array(ids.length * V)
      await this.run([
        ['input_ids', { type: 'int64', dims: [1, ids.length], data: BigInt64Array.from(ids, BigInt) }],
        ['position_ids', { type: 'int64', dims: [1, ids.length], data: BigInt64Array.from(ids, (_, i) => BigInt(i)) }],
        ['seqlens_k', { type: 'int32', dims: [1], data: Int32Array.of(ids.length - 1) }],
        ['total_sequence_length', { type: 'int32', dims: [], data: Int32Array.of(ids.length) }],
        ...past,
      ], [['logits', { type: 'float32', dims: [1, ids.length, V], data: logits }], ...present])
      out.push(ids.map((_, j) => logits.subarray(j * V, (j + 1) * V)))
    }
    return out
  }

  async dispose() { this.session.release() }
}

