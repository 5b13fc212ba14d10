// Decode throughput of the engine for a ~50M-parameter Qwen3 config at batch 1, 8 and 32, next to
// (a) the memory-bandwidth bound: weight (+ KV cache) bytes read per step over the copy bandwidth
// measured in this run, (b) @huggingface/transformers generating from the same ONNX file and (c)
// PyTorch transformers' generate on the same checkpoint (bench/peers/pytorch.py).
// Writes a markdown table to bench/results/engine.md (and prints it). Not a test.
//   npm run bench:engine [-- --threads 2 --batches 1,8,32]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { AutoModelForCausalLM, Tensor, env } from '@huggingface/transformers'
import { exportOnnx, openCheckpoint } from '../gpu-worker/engine/checkpoint.ts'
import { Generator } from '../gpu-worker/engine/generate.ts'
import { Engine } from '../gpu-worker/engine/session.ts'
import { makeTinyCheckpoint } from '../gpu-worker/engine/tiny.ts'
import { matmulRate, pytorchPeer, writeTable } from './common.ts'

const { values } = parseArgs({ options: { threads: { type: 'string', default: '2' }, batches: { type: 'string', default: '1,8,32' } } })
const threads = Number(values.threads)
const batches = values.batches.split(',').map(Number)
const PROMPT = 16
const STEPS = 40
const ROUNDS = 3 // ours and transformers.js alternate; the best round of each is kept (the machine may be shared)

const dir = mkdtempSync(join(tmpdir(), 'bench-engine-'))
const ckptDir = join(dir, 'ckpt')
const config = makeTinyCheckpoint(ckptDir, {
  seed: 1, hiddenSize: 640, intermediateSize: 1920, numLayers: 10, numHeads: 10, numKvHeads: 5, headDim: 64,
})
// No eos: every sequence runs to max_new_tokens in both engines.
for (const file of ['config.json', 'generation_config.json']) {
  const json = JSON.parse(readFileSync(join(ckptDir, file), 'utf8'))
  json.eos_token_id = file === 'config.json' ? null : []
  writeFileSync(join(ckptDir, file), JSON.stringify(json))
}
const ckpt = openCheckpoint(ckptDir)
let params = 0
let weightBytes = 0
for (const t of ckpt.weights.tensors.values()) {
  params += (t.end - t.start) / 4
  weightBytes += t.end - t.start
}
exportOnnx(ckpt, join(dir, 'models', 'bench'), { logits: 'all' })

/** Copy bandwidth, counted as bytes read + bytes written (the STREAM convention), best of 5. */
function copyBandwidth(): number {
  const n = 64 * 2 ** 20 // 256 MB of float32, beyond any cache
  const [a, b] = [new Float32Array(n).fill(1), new Float32Array(n)]
  let best = Infinity
  for (let i = 0; i < 5; i++) {
    const t = performance.now()
    b.set(a)
    best = Math.min(best, performance.now() - t)
  }
  return (2 * n * 4) / (best / 1000)
}

const prompts = (B: number) => Array.from({ length: B }, (_, b) => Array.from({ length: PROMPT }, (_, j) => (b * 31 + j * 7) % 256))

/** Decode tokens/s from the times at which each step's tokens appeared (prefill excluded). */
const rate = (B: number, stamps: number[]) => (B * (stamps.length - 1)) / ((stamps[stamps.length - 1] - stamps[0]) / 1000)

async function ours(B: number) {
  const engine = await Engine.load(ckptDir, { cacheDir: join(dir, 'cache'), threads })
  const generator = new Generator(engine, { maxBatch: B })
  return {
    async measure() {
      const stamps: number[] = []
      await Promise.all(prompts(B).map((p, b) => generator.generate({
        promptIds: p, maxNewTokens: STEPS, temperature: 0, stopTokenIds: [],
        onToken: () => { if (b === 0) stamps.push(performance.now()) },
      })))
      return rate(B, stamps)
    },
    dispose: () => engine.dispose(),
  }
}

async function transformersJs(B: number) {
  env.allowRemoteModels = false
  env.localModelPath = join(dir, 'models') + '/'
  const model = await AutoModelForCausalLM.from_pretrained('bench', {
    dtype: 'fp32', device: 'cpu', session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 },
  })
  const ids = prompts(B).flat()
  return {
    async measure() {
      const stamps: number[] = []
      await model.generate({
        input_ids: new Tensor('int64', BigInt64Array.from(ids, BigInt), [B, PROMPT]),
        attention_mask: new Tensor('int64', new BigInt64Array(B * PROMPT).fill(1n), [B, PROMPT]),
        max_new_tokens: STEPS, do_sample: false,
        // put() is called with the prompt, then once per step with that step's tokens
        streamer: { put: () => stamps.push(performance.now()), end: () => {} },
      } as never)
      return rate(B, stamps.slice(1))
    },
    dispose: () => model.dispose(),
  }
}

const bandwidth = copyBandwidth()
const flopRate = await matmulRate(threads, 'initializer')
const rows: string[] = []
for (const B of batches) {
  // Bytes read per decode step: every weight once, plus the KV cache at the mean context length.
  const meanContext = PROMPT + STEPS / 2
  const kvBytes = B * meanContext * config.numLayers * 2 * config.numKvHeads * config.headDim * 4
  const bound = (B * bandwidth) / (weightBytes + kvBytes)
  // FLOPs per token: 2 per weight (every weight is in one matmul: the tied embedding as the LM
  // head) plus attention, 4 * D per head per context position; over the measured MatMul rate.
  const flopsPerToken = 2 * params + 4 * config.numLayers * config.numHeads * config.headDim * meanContext
  const computeBound = flopRate / flopsPerToken
  const engines = [await ours(B), await transformersJs(B)]
  const best = [0, 0]
  for (let round = 0; round < ROUNDS; round++) {
    for (let e = 0; e < 2; e++) best[e] = Math.max(best[e], await engines[e].measure())
  }
  for (const e of engines) await e.dispose()
  const [a, b] = best
  const torch = pytorchPeer(['generate', '--model', ckptDir, '--threads', String(threads), '--batch', String(B), '--prompt', String(PROMPT), '--new-tokens', String(STEPS), '--rounds', String(ROUNDS)])
  const torchCells = 'missing' in torch ? `n/a: ${torch.missing} | n/a` : `${torch.decode_tokens_per_s.toFixed(1)} | ${(a / torch.decode_tokens_per_s).toFixed(2)}`
  rows.push(`| ${B} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${torchCells} | ${bound.toFixed(1)} | ${computeBound.toFixed(1)} | ${(a / Math.min(bound, computeBound)).toFixed(2)} | ${(a / b).toFixed(2)} |`)
  console.error(rows[rows.length - 1])
}
const table = [
  `Decode throughput, Qwen3 config with ${(params / 1e6).toFixed(1)}M parameters (hidden ${config.hiddenSize}, ${config.numLayers} layers, ` +
    `${config.numHeads} heads / ${config.numKvHeads} KV heads, head_dim ${config.headDim}, intermediate ${config.intermediateSize}, vocab ${config.vocabSize}), ` +
    `float32, CPU (${cpus()[0]?.model.trim()}, ${cpus().length} cores), ${threads} intra-op threads, prompt ${PROMPT} tokens, ` +
    `${STEPS} new tokens per sequence, rate over the decode steps (prefill excluded), best of ${ROUNDS} interleaved rounds ` +
    `(PyTorch transformers: generate on the same checkpoint, float32, the same threads, best of ${ROUNDS} rounds right after); ` +
    `load average at start ${loadavg()[0].toFixed(1)}. Copy bandwidth (read + write) measured in this run: ${(bandwidth / 1e9).toFixed(1)} GB/s; ` +
    `weights ${(weightBytes / 1e6).toFixed(0)} MB read per step. MatMul rate measured in this run ([512,512]x[512,2048]): ${(flopRate / 1e9).toFixed(0)} GFLOP/s.`,
  '',
  '| batch | ours (tokens/s) | transformers.js 4.3.2 (tokens/s) | PyTorch transformers (tokens/s) | ours / PyTorch | bandwidth bound (tokens/s) | compute bound (tokens/s) | ours / min(bounds) | ours / transformers.js |',
  '|---|---|---|---|---|---|---|---|---|',
  ...rows,
].join('\n')
writeTable('engine', table)
rmSync(dir, { recursive: true, force: true })
