// The engine at real sizes (bench/engine.ts --only real,quality,4b): random checkpoints of the
// published Qwen3-0.6B and -4B geometries (make-tiny-model's presets, bf16 files as published),
// every engine on the same checkpoint, each measurement in a process of its own (its peak RSS is
// its own), one after the other:
//   ours fp32 and 8-bit (bench/engine-run.ts), transformers.js on the same ONNX file, PyTorch
//   transformers (bench/peers/pytorch.py, fp32) and llama.cpp (bench/peers/llamacpp) on GGUF files
//   written from the checkpoint by our writer, F32 and Q8_0.
// The checkpoints, ONNX and GGUF files are kept in .cache/bench/ between runs (making them takes minutes).
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { exportOnnx, openCheckpoint } from '../gpu-worker/engine/checkpoint.ts'
import { writeGguf } from '../gpu-worker/engine/gguf.ts'
import type { Qwen3Config } from '../gpu-worker/engine/qwen3.ts'
import { Engine } from '../gpu-worker/engine/session.ts'
import { type Preset, makeTinyCheckpoint, presetOptions } from '../gpu-worker/engine/tiny.ts'
import { llamaCppMissing, llamaCppPeer, pytorchPeer } from './common.ts'

const CACHE = join(import.meta.dirname, '..', '.cache', 'bench')

export interface Prepared {
  preset: Preset
  dir: string
  config: Qwen3Config
  cacheDir: string
  onnxDir: string
  gguf: { F32: string; Q8_0: string }
}

/** The preset's checkpoint in .cache/bench/PRESET/checkpoint, without eos (so every sequence runs to its token budget), made once. */
export function presetCheckpoint(preset: Preset): string {
  const dir = join(CACHE, preset, 'checkpoint')
  if (!existsSync(join(dir, 'done'))) {
    rmSync(join(CACHE, preset), { recursive: true, force: true })
    console.error(`making the ${preset} checkpoint in ${dir}`)
    makeTinyCheckpoint(dir, presetOptions(preset, 1))
    for (const file of ['config.json', 'generation_config.json']) {
      const json = JSON.parse(readFileSync(join(dir, file), 'utf8'))
      json.eos_token_id = file === 'config.json' ? null : []
      writeFileSync(join(dir, file), JSON.stringify(json, null, 2))
    }
    writeFileSync(join(dir, 'done'), '')
  }
  return dir
}

/** The preset's checkpoint and the peers' files, made once. */
export function prepare(preset: Preset, peers: { transformersJs: boolean; ggufF32: boolean }): Prepared {
  const root = join(CACHE, preset)
  const dir = presetCheckpoint(preset)
  const ckpt = openCheckpoint(dir)
  const made = (path: string, make: (partial: string) => void) => {
    if (!existsSync(path)) {
      console.error(`writing ${path}`)
      make(`${path}.partial`)
      renameSync(`${path}.partial`, path)
    }
    return path
  }
  const gguf = {
    F32: peers.ggufF32 ? made(join(root, 'model-F32.gguf'), (p) => writeGguf(ckpt, p, 'F32')) : '',
    Q8_0: made(join(root, 'model-Q8_0.gguf'), (p) => writeGguf(ckpt, p, 'Q8_0')),
  }
  const onnxDir = join(root, 'transformers.js', 'model')
  if (peers.transformersJs) made(join(root, 'transformers.js'), (p) => { exportOnnx(ckpt, join(p, 'model'), { logits: 'last' }) })
  return { preset, dir, config: ckpt.config, cacheDir: join(root, 'engine-cache'), onnxDir, gguf }
}

export type EngineName = 'ours fp32' | 'ours 8-bit' | 'ours 4-bit' | 'transformers.js' | 'PyTorch' | 'llama.cpp F32' | 'llama.cpp Q8_0'

export interface Measurement {
  prefill_tokens_per_s: number
  decode_tokens_per_s: number
  peak_rss_bytes: number
}

export interface Shape { threads: number; batch: number; context: number; newTokens: number }

/** One measurement in its own process, or why there is none. */
export function measure(engine: EngineName, m: Prepared, shape: Shape): Measurement | { missing: string } {
  const { threads, batch, context, newTokens } = shape
  if (engine.startsWith('llama.cpp')) {
    const missing = llamaCppMissing()
    if (missing) return { missing }
    return llamaCppPeer({ kind: 'generate', model: engine.endsWith('F32') ? m.gguf.F32 : m.gguf.Q8_0, threads, batch, context, newTokens })
  }
  if (engine === 'PyTorch') {
    const torch = pytorchPeer(['generate', '--model', m.dir, '--threads', String(threads), '--batch', String(batch), '--prompt', String(context),
      '--new-tokens', String(newTokens), '--rounds', '1'])
    return 'missing' in torch ? { missing: String(torch.missing) } : torch as unknown as Measurement
  }
  const quantize = engine === 'ours 8-bit' ? 8 : engine === 'ours 4-bit' ? 4 : undefined
  const task = engine === 'transformers.js'
    ? { engine: 'transformers.js', onnxDir: m.onnxDir, ...shape }
    : { engine: 'ours', model: m.dir, cacheDir: m.cacheDir, quantize, ...shape }
  const run = spawnSync(process.execPath, [...process.execArgv, join(import.meta.dirname, 'engine-run.ts'), JSON.stringify(task)], { encoding: 'utf8', timeout: 3_600_000 })
  if (run.signal) return { missing: `killed by ${run.signal}${run.signal === 'SIGKILL' ? ' (out of memory)' : ''}` }
  if (run.status !== 0) return { missing: `failed: ${(run.stderr || String(run.error)).trim().split('\n').slice(-3).join(' ')}` }
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!)
}

/** Builds our ONNX files (fp32 and quantized) before anything is timed: the measured loads read them from the cache. */
export async function warmOurCache(m: Prepared, quantize: (8 | 4 | undefined)[], logits: 'last' | 'all' = 'last') {
  for (const q of quantize) {
    const started = performance.now()
    const engine = await Engine.load(m.dir, { cacheDir: m.cacheDir, quantize: q, logits, threads: 1 })
    await engine.dispose()
    console.error(`${m.preset} ${q ? `${q}-bit` : 'fp32'} (${logits}) engine ready in ${((performance.now() - started) / 1000).toFixed(0)} s`)
  }
}

/** Bytes of weights read per decode step (the tied embedding read once, as the LM head) at `bytesPerWeight`. */
export function weightBytes(c: Qwen3Config, bytesPerWeight: number): number {
  const attention = c.hiddenSize * c.headDim * (2 * c.numHeads + 2 * c.numKvHeads)
  const mlp = 3 * c.hiddenSize * c.intermediateSize
  return (c.numLayers * (attention + mlp) + c.vocabSize * c.hiddenSize) * bytesPerWeight
}

/** KV cache bytes per token: keys and values of every layer at `bytesPerValue`. */
export const kvBytesPerToken = (c: Qwen3Config, bytesPerValue: number) => c.numLayers * 2 * c.numKvHeads * c.headDim * bytesPerValue

/** FLOPs of one prefill token at position `position`: every projection (not the LM head: prefill needs the last logits only) and attention. */
export function prefillFlopsPerToken(c: Qwen3Config, position: number): number {
  const projections = c.numLayers * (c.hiddenSize * c.headDim * (2 * c.numHeads + 2 * c.numKvHeads) + 3 * c.hiddenSize * c.intermediateSize)
  return 2 * projections + 4 * c.numLayers * c.numHeads * c.headDim * position
}

/** Per engine: bytes per weight and per KV value as it stores them. */
export const STORAGE: Record<EngineName, { weight: number; kv: number }> = {
  'ours fp32': { weight: 4, kv: 4 }, 'ours 8-bit': { weight: 1 + 4 / 32, kv: 4 }, 'ours 4-bit': { weight: 0.5 + 4 / 32, kv: 4 },
  'transformers.js': { weight: 4, kv: 4 }, PyTorch: { weight: 4, kv: 4 },
  'llama.cpp F32': { weight: 4, kv: 2 }, 'llama.cpp Q8_0': { weight: 34 / 32, kv: 2 },
}

/** Teacher-forced quality of the quantized engines against fp32 on the same checkpoint: largest relative logit error and greedy agreement. */
export async function quantizedQuality(m: Prepared, sequences: number[][], threads: number) {
  const logits = async (quantize?: 8 | 4) => {
    const engine = await Engine.load(m.dir, { cacheDir: m.cacheDir, logits: 'all', quantize, threads })
    try {
      return (await engine.promptLogits(sequences)).flat()
    } finally {
      await engine.dispose()
    }
  }
  const argmax = (v: Float32Array) => { let best = 0; for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i; return best }
  const fp32 = await logits()
  const rows: { bits: 8 | 4; worst: number; meanError: number; agree: number; positions: number }[] = []
  for (const bits of [8, 4] as const) {
    const q = await logits(bits)
    let worst = 0
    let sum = 0
    let agree = 0
    q.forEach((row, i) => {
      const scale = fp32[i].reduce((s, x) => Math.max(s, Math.abs(x)), 0)
      let rowWorst = 0
      for (let j = 0; j < row.length; j++) rowWorst = Math.max(rowWorst, Math.abs(row[j] - fp32[i][j]))
      worst = Math.max(worst, rowWorst / scale)
      sum += rowWorst / scale
      if (argmax(row) === argmax(fp32[i])) agree++
    })
    rows.push({ bits, worst, meanError: sum / q.length, agree, positions: q.length })
  }
  return rows
}
