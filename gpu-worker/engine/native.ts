// The engine's native module (native/ort_session.cc, built by scripts/build-native.ts on install):
// onnxruntime sessions whose inputs and outputs are tensors over memory the caller owns, run off the
// event loop. This file gives it types and one clear error when it is missing.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { Graph } from './onnx.ts'

export type TensorType = 'float32' | 'float16' | 'float64' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool' | 'uint16'
export type TypedArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Int8Array | Uint8Array | Uint16Array

/** Device memory (CUDA) made by NativeSession.allocate; freed when garbage collected. */
export type DeviceMemory = { readonly __deviceMemory: unique symbol }

/** A tensor over a typed array (host memory), or over device memory at a byte offset. */
export type NativeTensor =
  | { type: TensorType; dims: number[]; data: TypedArray }
  | { type: TensorType; dims: number[]; device: DeviceMemory; offset: number }

export interface ValueInfo { name: string; type: TensorType | 'unsupported'; dims: number[] }

export interface NativeSession {
  readonly inputs: ValueInfo[]
  readonly outputs: ValueInfo[]
  /** Runs the graph; every output is written into the tensor given for it (an output may be an input's buffer). */
  run(inputs: [string, NativeTensor][], outputs: [string, NativeTensor][]): Promise<void>
  /** Device memory on the session's device (CUDA sessions only). */
  allocate(bytes: number): DeviceMemory
  /** Ends onnxruntime's profile of a session created with `profile` and returns its file. */
  endProfiling(): string
  /** onnxruntime's statistics of the session's CPU arena (the shared one with sharedArena): InUse, MaxInUse, TotalAllocated (bytes), NumAllocs, ... */
  arenaStats(): Record<string, number>
  release(): void
}

/** Where sessions run and with how many threads (the worker's configuration). */
export interface SessionSettings {
  provider?: 'cpu' | 'cuda'
  deviceId?: number
  /** Intra-op threads; 0 or unset: onnxruntime's choice (the machine's cores). */
  threads?: number
  /** 'all' (default) or 'disabled' (float64 graphs: the CPU fusions are float-only). */
  optimization?: 'all' | 'disabled'
  /** Write onnxruntime's per-operator profile to files starting with this prefix (see endProfiling). */
  profile?: string
  /**
   * false: no memory pattern. With it onnxruntime allocates, from the second run on, one block for
   * all of a run's planned intermediates besides what its arena already holds: for a train graph
   * whose intermediates are GBs, 6 GB more at the 0.6B geometry and 2048 positions (measured).
   */
  memoryPattern?: boolean
  /**
   * false: the allocation planner puts no value in the buffer of an earlier one of the same shape.
   * Its reuse keeps that buffer from the earlier value's last use until the later value is done, so a
   * train graph held one buffer per attention block size across all its layers: a LoRA step of the
   * 0.6B widths at 8192 positions peaked 2x higher with it, and ran slower (native/ort_session.cc).
   */
  memoryReuse?: boolean
  /**
   * true: the CPU arena is the one every such session shares (native/ort_session.cc), so the
   * memory one session's run freed serves the next session's; false (default): its own arena.
   */
  sharedArena?: boolean
}

interface Native {
  createSession(path: string, options: { intraThreads: number; interThreads: number; optimization: number; provider: string; deviceId: number; memoryPattern: number; memoryReuse: number; sharedArena: number; profile?: string }): Promise<NativeSession>
  version(): string
  sampleFiltered(weights: Float32Array, weightSum: number, topK: number, topP: number, u: number, out: Float64Array): void
}

const MODULE = join(import.meta.dirname, 'native', 'build', 'ort_session.node')
let native: Native | null = null

function load(): Native {
  if (native) return native
  if (!existsSync(MODULE)) {
    throw new Error(`the engine's native module is not built (${MODULE} is missing): run \`npm run build:native\`, which needs g++`)
  }
  native = createRequire(import.meta.url)(MODULE) as Native
  return native
}

export function createSession(path: string, settings: SessionSettings = {}): Promise<NativeSession> {
  return load().createSession(path, {
    intraThreads: settings.threads ?? 0, interThreads: 1, optimization: settings.optimization === 'disabled' ? 0 : 99,
    provider: settings.provider ?? 'cpu', deviceId: settings.deviceId ?? 0, memoryPattern: settings.memoryPattern === false ? 0 : 1,
    memoryReuse: settings.memoryReuse === false ? 0 : 1, sharedArena: settings.sharedArena ? 1 : 0, ...(settings.profile ? { profile: settings.profile } : {}),
  })
}

export const nativeVersion = () => load().version()

const drawn = new Float64Array(2)

/** Top-k / top-p sampling of one row of weights (native/sampling.cc): the token and the kept set's total weight. */
export function sampleFiltered(weights: Float32Array, weightSum: number, topK: number, topP: number, u: number): { token: number; total: number } {
  load().sampleFiltered(weights, weightSum, topK, topP, u, drawn)
  return { token: drawn[0], total: drawn[1] }
}

/**
 * Fails, saying what is missing and how to get it, when sessions cannot start with `settings`
 * (a worker checks this when it starts, not at its first job). CPU always can.
 */
export async function checkProvider(settings: SessionSettings): Promise<void> {
  if ((settings.provider ?? 'cpu') === 'cpu') return
  const dir = mkdtempSync(join(tmpdir(), 'prompt-r1-provider-'))
  try {
    const g = new Graph('float32')
    g.output('y', g.neg(g.input('x', 'float32', [1])), 'float32', [1])
    g.save(dir, 'probe.onnx')
    await createSession(join(dir, 'probe.onnx'), settings)
  } catch (error) {
    const libraries = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', process.platform, process.arch)
    const missing = ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so'].filter((f) => !existsSync(join(libraries, f)))
    throw new Error(
      `PROMPT_R1_ENGINE_PROVIDER=${settings.provider} (device ${settings.deviceId ?? 0}), but onnxruntime cannot start it: ${(error as Error).message}. ` +
      (missing.length ? `Missing from ${libraries}: ${missing.join(', ')}. ` : '') +
      'The CUDA provider libraries come with onnxruntime-node\'s install script: run `ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node` ' +
      'where the network is open, on a machine with CUDA 12 and cuDNN 9 (docs/deploy.md); or set PROMPT_R1_ENGINE_PROVIDER=cpu.',
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
