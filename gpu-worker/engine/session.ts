// One onnxruntime session over a Qwen3 graph, with the KV cache passed in and out as plain
// float32 arrays [B, KV, T, D] per layer (the Hugging Face past_key_values / present layout).
import * as ort from 'onnxruntime-node'
import { type Checkpoint, type ModelSource, cachedOnnx, defaultCacheDir, openCheckpoint, resolveCheckpoint } from './checkpoint.ts'
import type { Qwen3Config } from './qwen3.ts'

export interface EngineOptions {
  /** onnxruntime execution provider: 'cpu' (default); 'cuda' or 'webgpu' where the build has them. */
  executionProvider?: 'cpu' | 'cuda' | 'webgpu'
  /** Intra-op threads (default: onnxruntime's choice, all cores). */
  threads?: number
  /** Where downloaded checkpoints and built ONNX files are kept (default $PROMPT_R1_CACHE or ~/.cache/prompt-r1). */
  cacheDir?: string
  /** 'last' (default) computes logits only for the last position, which is all generation needs. */
  logits?: 'all' | 'last'
}

export interface ForwardInput {
  /** [B, S] token ids (left-padded rows). */
  inputIds: ArrayLike<number>
  batch: number
  /** [B, T] 1 for real tokens, 0 for padding, T = past + S. */
  attentionMask: ArrayLike<number>
  /** [B, S] */
  positionIds: ArrayLike<number>
  /** 2 per layer (key, value), each [B, KV, P, D]; empty arrays for P = 0. */
  past: Float32Array[]
}

export interface ForwardOutput {
  /** [B, S, V] or, with logits: 'last', [B, 1, V]. */
  logits: Float32Array
  present: Float32Array[]
}

export class Engine {
  private constructor(
    readonly session: ort.InferenceSession,
    readonly checkpoint: Checkpoint,
    readonly onnxPath: string,
  ) {}

  get config(): Qwen3Config { return this.checkpoint.config }

  static async load(source: ModelSource, options: EngineOptions = {}): Promise<Engine> {
    return Engine.fromCheckpoint(openCheckpoint(await resolveCheckpoint(source, options.cacheDir ?? defaultCacheDir())), options)
  }

  static async fromCheckpoint(checkpoint: Checkpoint, options: EngineOptions = {}): Promise<Engine> {
    const cacheDir = options.cacheDir ?? defaultCacheDir()
    const onnxPath = cachedOnnx(checkpoint, cacheDir, { logits: options.logits ?? 'last' })
    const session = await ort.InferenceSession.create(onnxPath, {
      executionProviders: [options.executionProvider ?? 'cpu'],
      graphOptimizationLevel: 'all',
      ...(options.threads ? { intraOpNumThreads: options.threads, interOpNumThreads: 1 } : {}),
    })
    return new Engine(session, checkpoint, onnxPath)
  }

  async forward(input: ForwardInput): Promise<ForwardOutput> {
    const { numLayers, numKvHeads: KV, headDim: D } = this.config
    const B = input.batch
    const S = input.inputIds.length / B
    const T = input.attentionMask.length / B
    const int64 = (data: ArrayLike<number>, dims: number[]) => {
      const values = new BigInt64Array(data.length)
      for (let i = 0; i < data.length; i++) values[i] = BigInt(data[i])
      return new ort.Tensor('int64', values, dims)
    }
    const feeds: Record<string, ort.Tensor> = {
      input_ids: int64(input.inputIds, [B, S]),
      attention_mask: int64(input.attentionMask, [B, T]),
      position_ids: int64(input.positionIds, [B, S]),
    }
    for (let i = 0; i < numLayers; i++) {
      feeds[`past_key_values.${i}.key`] = new ort.Tensor('float32', input.past[2 * i], [B, KV, T - S, D])
      feeds[`past_key_values.${i}.value`] = new ort.Tensor('float32', input.past[2 * i + 1], [B, KV, T - S, D])
    }
    const out = await this.session.run(feeds)
    const present: Float32Array[] = []
    for (let i = 0; i < numLayers; i++) present.push(out[`present.${i}.key`].data as Float32Array, out[`present.${i}.value`].data as Float32Array)
    return { logits: out.logits.data as Float32Array, present }
  }

  async dispose() { await this.session.release() }
}
