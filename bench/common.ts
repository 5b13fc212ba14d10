// What the benchmarks share: the roofline they compare against (the float32 MatMul FLOP rate
// onnxruntime reaches on this machine, measured in the same run), the peers (PyTorch:
// bench/peers/pytorch.py; llama.cpp: bench/peers/llamacpp/peer.mjs) and where their tables go.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { Graph } from '../gpu-worker/engine/onnx.ts'

/**
 * [m,k] @ [k,n] (default [512,512] @ [512,2048]), best of 20 runs after 5 warm-ups. `weight`:
 * 'initializer' lets onnxruntime pre-pack it, as in inference; 'input' does not, as in a train step.
 */
export async function matmulRate(threads: number, weight: 'initializer' | 'input', [m, k, n] = [512, 512, 2048]): Promise<number> {
  const g = new Graph('float32')
  const a = g.input('a', 'float32', [m, k])
  const fill = () => new Float32Array(k * n).fill(0.5)
  const w = weight === 'input' ? g.input('w', 'float32', [k, n]) : g.weight('w', [k, n], fill)
  g.output('y', g.matmul(a, w), 'float32', [m, n])
  const session = await ort.InferenceSession.create(g.toBytes(), { intraOpNumThreads: threads, interOpNumThreads: 1 })
  const feeds: Record<string, ort.Tensor> = { a: new ort.Tensor('float32', new Float32Array(m * k).fill(1), [m, k]) }
  if (weight === 'input') feeds.w = new ort.Tensor('float32', fill(), [k, n])
  let best = Infinity
  for (let i = 0; i < 25; i++) {
    const t = performance.now()
    await session.run(feeds)
    if (i >= 5) best = Math.min(best, performance.now() - t)
  }
  await session.release()
  return (2 * m * k * n) / (best / 1000)
}

/**
 * Writes section NAME of benchmark BENCH to bench/results/BENCH/NAME.md (dated, and printed), then
 * bench/results/BENCH.md: every section's latest table, in the order of `sections`.
 */
export function writeSection(bench: string, name: string, table: string, sections: string[]): void {
  const results = join(import.meta.dirname, 'results')
  const text = `### ${name} (${new Date().toISOString().slice(0, 10)})\n\n${table}\n`
  mkdirSync(join(results, bench), { recursive: true })
  writeFileSync(join(results, bench, `${name}.md`), text)
  console.log(text)
  const written = sections.filter((s) => existsSync(join(results, bench, `${s}.md`)))
  writeFileSync(join(results, `${bench}.md`), written.map((s) => readFileSync(join(results, bench, `${s}.md`), 'utf8')).join('\n'))
}

/**
 * Runs bench/peers/pytorch.py with the reference checks' Python (test/reference/setup-venv.sh, or
 * PROMPT_R1_REFERENCE_PYTHON): its JSON answer, or why there is none (the table then says so).
 */
export function pytorchPeer(args: string[]): Record<string, number> | { missing: string } {
  const python = process.env.PROMPT_R1_REFERENCE_PYTHON || join(import.meta.dirname, '..', '.venv-reference', 'bin', 'python')
  if (!existsSync(python)) return { missing: `no PyTorch (${python} missing; make it with test/reference/setup-venv.sh)` }
  const run = spawnSync(python, [join(import.meta.dirname, 'peers', 'pytorch.py'), ...args], { encoding: 'utf8', timeout: 3_600_000 })
  if (run.status !== 0) return { missing: `bench/peers/pytorch.py ${args[0]} failed: ${(run.stderr || String(run.error)).trim().split('\n').at(-1)}` }
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!)
}

const LLAMACPP = join(import.meta.dirname, 'peers', 'llamacpp')

/** Why llama.cpp cannot run here (node-llama-cpp not installed), or null when it can. */
export function llamaCppMissing(): string | null {
  return existsSync(join(LLAMACPP, 'node_modules', 'node-llama-cpp'))
    ? null
    : 'node-llama-cpp is not installed (npm ci --omit=optional --prefix bench/peers/llamacpp)'
}

/** Runs one task of bench/peers/llamacpp/peer.mjs in its own process (its peak RSS is its own); its JSON answer. */
export function llamaCppPeer(task: Record<string, unknown>): any {
  const run = spawnSync(process.execPath, [join(LLAMACPP, 'peer.mjs')], { input: JSON.stringify(task), encoding: 'utf8', timeout: 3_600_000, maxBuffer: 1 << 28 })
  if (run.status !== 0) throw new Error(`bench/peers/llamacpp/peer.mjs ${task.kind} failed: ${(run.stderr || String(run.error)).trim()}`)
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!)
}
