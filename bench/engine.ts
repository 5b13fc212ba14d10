// The engine benchmark, in sections (each a table in bench/results/engine/<section>.md; all of them
// together in bench/results/engine.md). Not a test.
//   toy      decode throughput of a ~50M-parameter config at batch 1, 8 and 32, next to (a) the
//            memory-bandwidth bound: weight (+ KV cache) bytes read per step over the copy bandwidth
//            measured in this run, (b) @huggingface/transformers generating from the same ONNX file
//            and (c) PyTorch transformers' generate on the same checkpoint (bench/peers/pytorch.py).
//   real     the Qwen3-0.6B geometry at contexts 512, 2048 and 8192 and batch 1, 8 and 32 where
//            memory and time allow: ours fp32 and 8-bit, transformers.js, PyTorch and llama.cpp (F32
//            and Q8_0 GGUF written from the same checkpoint); tokens/s, prefill, peak RSS, the
//            bandwidth bound, and the issue's goals as measured ratios (bench/engine-real.ts).
//   sampling the sampling head and the host sampler at V = 151936, batch 32, against a decode step.
//   quality  8- and 4-bit weights against fp32 at the 0.6B geometry, teacher-forced.
//   4b       the Qwen3-4B geometry at batch 1 with 8-bit weights, ours and llama.cpp Q8_0, peak RSS.
//   npm run bench:engine [-- --only toy,real,sampling,quality,4b --threads 2 --batches 1,8,32 --shapes 512x1,2048x8 --rounds 2]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { AutoModelForCausalLM, Tensor, env } from '@huggingface/transformers'
import { exportOnnx, openCheckpoint } from '../gpu-worker/engine/checkpoint.ts'
import { Generator } from '../gpu-worker/engine/generate.ts'
import { Engine } from '../gpu-worker/engine/session.ts'
import { type NativeTensor, createSession } from '../gpu-worker/engine/native.ts'
import { Graph } from '../gpu-worker/engine/onnx.ts'
import { samplingHead } from '../gpu-worker/engine/qwen3.ts'
import { type SamplingOptions, sampleToken, seededRandom } from '../gpu-worker/engine/sampling.ts'
import { makeTinyCheckpoint } from '../gpu-worker/engine/tiny.ts'
import { matmulRate, pytorchPeer, writeSection } from './common.ts'
import {
  type EngineName, type Measurement, STORAGE, kvBytesPerToken, measure, prefillFlopsPerToken, prepare, quantizedQuality, warmOurCache, weightBytes,
} from './engine-real.ts'

const { values } = parseArgs({
  options: {
    only: { type: 'string', default: 'toy,real,sampling,quality,4b' }, threads: { type: 'string', default: '2' },
    batches: { type: 'string', default: '1,8,32' }, shapes: { type: 'string' }, engines: { type: 'string' }, rounds: { type: 'string', default: '2' },
  },
})
const threads = Number(values.threads)
const batches = values.batches.split(',').map(Number)
const PROMPT = 16
const STEPS = 40
const ROUNDS = 3 // ours and transformers.js alternate; the best round of each is kept (the machine may be shared)
// the real-geometry runs take minutes each: two rounds by default, the best of each engine kept
const REAL_ROUNDS = Number(values.rounds)

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

const machine = () => `CPU ${cpus()[0]?.model.trim()}, ${cpus().length} cores, ${threads} threads, load average at start ${loadavg()[0].toFixed(1)}`

async function toy(): Promise<string> {
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
  let toyWeightBytes = 0
  for (const t of ckpt.weights.tensors.values()) {
    params += (t.end - t.start) / 4
    toyWeightBytes += t.end - t.start
  }
  exportOnnx(ckpt, join(dir, 'models', 'bench'), { logits: 'all' })

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
    const bound = (B * bandwidth) / (toyWeightBytes + kvBytes)
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
      `weights ${(toyWeightBytes / 1e6).toFixed(0)} MB read per step. MatMul rate measured in this run ([512,512]x[512,2048]): ${(flopRate / 1e9).toFixed(0)} GFLOP/s.`,
    '',
    '| batch | ours (tokens/s) | transformers.js 4.3.2 (tokens/s) | PyTorch transformers (tokens/s) | ours / PyTorch | bandwidth bound (tokens/s) | compute bound (tokens/s) | ours / min(bounds) | ours / transformers.js |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n')
  rmSync(dir, { recursive: true, force: true })
  return table
}

const ENGINES: EngineName[] = ['ours fp32', 'ours 8-bit', 'transformers.js', 'PyTorch', 'llama.cpp F32', 'llama.cpp Q8_0']
const gb = (bytes: number) => (bytes / 2 ** 30).toFixed(2)
const cell = (x: number | undefined, digits = 1) => (x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(digits))

interface RealRow { context: number; batch: number; engine: EngineName; result: Measurement | { missing: string }; bound: number }

// Why a shape of the 3 x 3 grid (contexts 512, 2048, 8192; batch 1, 8, 32) is not measured
const SKIPPED: Record<string, string> = {
  '512x32': '16k prompt tokens per engine: about half an hour for the six engines on 2 cores',
  '2048x8': 'the same 16k prompt tokens per engine',
  '2048x32': '65k prompt tokens per engine, hours on 2 cores; 15 GB of fp32 KV cache',
  '8192x8': 'the same 65k tokens and 15 GB',
  '8192x32': "60 GB of KV cache, beyond this machine's 24 GB",
}
const leftOut = (shapes: number[][]) => [512, 2048, 8192].flatMap((context) => [1, 8, 32].map((batch) => [context, batch]))
  .filter(([context, batch]) => !shapes.some(([c, b]) => c === context && b === batch))
  .map(([context, batch]) => `${context} x ${batch} (${SKIPPED[`${context}x${batch}`] ?? 'not asked for'})`).join(', ') || 'nothing'

async function real(): Promise<string> {
  // (context, batch, new tokens); the rest of the 3 x 3 grid is left out, for the reasons in `skipped`
  const shapes = (values.shapes ?? '512x1,512x8,512x32,2048x1,2048x8,8192x1').split(',').map((s) => s.split('x').map(Number))
  const engines = values.engines ? (values.engines.split(',') as EngineName[]) : ENGINES
  const m = prepare('qwen3-0.6b', { transformersJs: engines.includes('transformers.js'), ggufF32: engines.includes('llama.cpp F32') })
  await warmOurCache(m, [undefined, 8])
  const c = m.config
  const bandwidth = copyBandwidth()
  const flopRate = await matmulRate(threads, 'initializer')
  const rows: RealRow[] = []
  const newTokens = 32
  for (const [context, batch] of shapes) {
    for (const engine of engines) {
      const storage = STORAGE[engine]
      const bound = (batch * bandwidth) / (weightBytes(c, storage.weight) + batch * (context + newTokens / 2) * kvBytesPerToken(c, storage.kv))
      rows.push({ context, batch, engine, result: { missing: 'not run' }, bound })
    }
    // REAL_ROUNDS rounds over the engines, one after the other; each figure is the best of its rounds
    for (let round = 0; round < REAL_ROUNDS; round++) {
      for (const row of rows.filter((r) => r.context === context && r.batch === batch)) {
        const result = measure(row.engine, m, { threads, batch, context, newTokens })
        console.error(`${context} x ${batch} ${row.engine} (round ${round + 1}): ${JSON.stringify(result)}`)
        if ('missing' in result) { if ('missing' in row.result) row.result = result; continue }
        row.result = 'missing' in row.result ? result : {
          decode_tokens_per_s: Math.max(row.result.decode_tokens_per_s, result.decode_tokens_per_s),
          prefill_tokens_per_s: Math.max(row.result.prefill_tokens_per_s, result.prefill_tokens_per_s),
          peak_rss_bytes: Math.max(row.result.peak_rss_bytes, result.peak_rss_bytes),
        }
      }
    }
  }
  const find = (context: number, batch: number, engine: EngineName) => {
    const r = rows.find((x) => x.context === context && x.batch === batch && x.engine === engine)?.result
    return r && !('missing' in r) ? r : undefined
  }
  const ratio = (a?: number, b?: number) => (a && b ? (a / b).toFixed(2) : 'n/a')
  const goal = (what: string, value: string, target: number) => `| ${what} | ${value} | ${target} | ${value !== 'n/a' && Number(value) >= target ? 'met' : 'not met'} |`
  const decode = (context: number, batch: number, engine: EngineName) => find(context, batch, engine)?.decode_tokens_per_s
  const prefill = (context: number, batch: number, engine: EngineName) => find(context, batch, engine)?.prefill_tokens_per_s
  const contexts = [...new Set(shapes.map(([context]) => context))]
  const prefillRate2048 = prefill(2048, 1, 'ours fp32')
  const goals = [
    ...contexts.map((context) => goal(`batch 1 fp32, context ${context}: ours / llama.cpp F32`, ratio(decode(context, 1, 'ours fp32'), decode(context, 1, 'llama.cpp F32')), 1.0)),
    goal('batch 1, context 512, 8-bit: ours / llama.cpp Q8_0', ratio(decode(512, 1, 'ours 8-bit'), decode(512, 1, 'llama.cpp Q8_0')), 0.8),
    goal('8 sequences, context 512, fp32: ours / llama.cpp F32', ratio(decode(512, 8, 'ours fp32'), decode(512, 8, 'llama.cpp F32')), 1.5),
    goal('8 sequences / batch 1, ours fp32, context 512', ratio(decode(512, 8, 'ours fp32'), decode(512, 1, 'ours fp32')), 5),
    ...contexts.map((context) => goal(`prefill ${context} tokens: ours / llama.cpp F32`, ratio(prefill(context, 1, 'ours fp32'), prefill(context, 1, 'llama.cpp F32')), 1.5)),
    goal('prefill 2048 tokens: FLOP rate / MatMul rate', prefillRate2048 ? ((prefillRate2048 * prefillFlopsPerToken(c, 1024)) / flopRate).toFixed(2) : 'n/a', 0.5),
    goal('batch 8, context 512: ours / PyTorch', ratio(decode(512, 8, 'ours fp32'), decode(512, 8, 'PyTorch')), 1.5),
    goal('context 2048, batch 1: ours / PyTorch', ratio(decode(2048, 1, 'ours fp32'), decode(2048, 1, 'PyTorch')), 1.5),
    goal('batch 1, context 512: ours / PyTorch', ratio(decode(512, 1, 'ours fp32'), decode(512, 1, 'PyTorch')), 1.0),
  ]
  return [
    `Qwen3-0.6B geometry (random weights, ${c.numLayers} layers, hidden ${c.hiddenSize}, ${c.numHeads} heads / ${c.numKvHeads} KV heads, head_dim ${c.headDim}, ` +
      `intermediate ${c.intermediateSize}, vocab ${c.vocabSize}, tied embeddings; a bf16 file), greedy, ${machine()}. Each measurement in a process of its own ` +
      `(peak RSS is its own), one at a time, ${REAL_ROUNDS === 1 ? 'once (the machine is shared: single runs move by up to 2x)' : `in ${REAL_ROUNDS} rounds over the engines, the best figure of each kept (the machine is shared: single runs move by up to 2x)`}. ` +
      `Prompt = context tokens, 32 new tokens, after a warm-up of 2; prefill: every prompt in the cache until the first token of the last one; decode: the steps after that. ` +
      `Bandwidth bound: weight + KV bytes read per step, as each engine stores them (ours and PyTorch fp32 KV, llama.cpp F16 KV), over the copy bandwidth ` +
      `measured in this run, ${(bandwidth / 1e9).toFixed(1)} GB/s (read + write; a conservative figure that a good engine can exceed). ` +
      `MatMul rate in this run ([512,512]x[512,2048], fp32): ${(flopRate / 1e9).toFixed(0)} GFLOP/s. Left out: ${leftOut(shapes)}.`,
    '',
    '| context | batch | engine | decode (tokens/s) | prefill (tokens/s) | peak RSS (GiB) | bandwidth bound (tokens/s) | decode / bound | ours fp32 / this |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map(({ context, batch, engine, result, bound }) => 'missing' in result
      ? `| ${context} | ${batch} | ${engine} | n/a: ${result.missing} | | | ${cell(bound)} | | |`
      : `| ${context} | ${batch} | ${engine} | ${cell(result.decode_tokens_per_s)} | ${cell(result.prefill_tokens_per_s)} | ${gb(result.peak_rss_bytes)} | ` +
        `${cell(bound)} | ${cell(result.decode_tokens_per_s / bound, 2)} | ${ratio(decode(context, batch, 'ours fp32'), result.decode_tokens_per_s)} |`),
    '',
    'The goals of issue 10, measured in this run:',
    '',
    '| goal | measured | target | |',
    '|---|---|---|---|',
    ...goals,
  ].join('\n')
}

async function quality(): Promise<string> {
  const m = prepare('qwen3-0.6b', { transformersJs: false, ggufF32: false })
  await warmOurCache(m, [undefined, 8, 4], 'all')
  const random = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  const next = random(7)
  const sequences = Array.from({ length: 2 }, () => Array.from({ length: 160 }, () => Math.floor(next() * m.config.vocabSize)))
  const rows = await quantizedQuality(m, sequences, threads)
  return [
    `Weight-only quantization against fp32 on the same checkpoint (Qwen3-0.6B geometry, random weights): teacher-forced over ${rows[0].positions} positions ` +
      `(2 sequences of 160 random tokens); MatMulNBits, symmetric blocks of 32, int8 activations (accuracy_level 4) on the projections and the LM head. ` +
      `Error: per position, the largest |logit - fp32 logit| over the vocabulary, relative to the largest |fp32 logit| there.`,
    '',
    '| weights | largest relative logit error | mean over positions | greedy token = fp32 |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.bits}-bit | ${r.worst.toFixed(4)} | ${r.meanError.toFixed(4)} | ${r.agree}/${r.positions} (${((100 * r.agree) / r.positions).toFixed(1)}%) |`),
  ].join('\n')
}

async function fourB(): Promise<string> {
  const m = prepare('qwen3-4b', { transformersJs: false, ggufF32: false })
  await warmOurCache(m, [8, 4])
  const engines: EngineName[] = values.engines ? (values.engines.split(',') as EngineName[]) : ['ours 8-bit', 'ours 4-bit', 'llama.cpp Q8_0']
  const lines = engines.map((engine) => {
    const r = measure(engine, m, { threads, batch: 1, context: 512, newTokens: 16 })
    console.error(`4B ${engine}: ${JSON.stringify(r)}`)
    if ('missing' in r) return `| ${engine} | n/a: ${r.missing} | | | |`
    return `| ${engine} | ${cell(r.decode_tokens_per_s, 2)} | ${cell(r.prefill_tokens_per_s)} | ${gb(r.peak_rss_bytes)} | ${r.peak_rss_bytes <= 12 * 2 ** 30 ? 'yes' : 'no'} |`
  })
  const c = m.config
  return [
    `Qwen3-4B geometry (random weights, ${c.numLayers} layers, hidden ${c.hiddenSize}, ${c.numHeads} / ${c.numKvHeads} heads, intermediate ${c.intermediateSize}), ` +
      `batch 1, context 512, 16 new tokens, quantized weights, ${machine()}. fp32 (16 GB of weights) is left out on this 24 GB machine.`,
    '',
    '| engine | decode (tokens/s) | prefill (tokens/s) | peak RSS (GiB) | within 12 GB |',
    '|---|---|---|---|---|',
    ...lines,
  ].join('\n')
}

/** The sampling head (in the graph) and the host sampler at V = 151936, batch 32, next to a decode step of the 0.6B geometry at batch 32. */
async function sampling(): Promise<string> {
  const B = 32
  const m = prepare('qwen3-0.6b', { transformersJs: false, ggufF32: false })
  const V = m.config.vocabSize
  const step = measure('ours fp32', m, { threads, batch: B, context: 64, newTokens: 16 })
  if ('missing' in step) throw new Error(`the decode step could not be measured: ${step.missing}`)
  const stepMs = (1000 * B) / step.decode_tokens_per_s
  const random = seededRandom(3)
  const logits = Float32Array.from({ length: B * V }, () => 4 * (random() + random() + random() - 1.5))
  const out = { argmax: new BigInt64Array(B), log_z: new Float32Array(B), weights: new Float32Array(B * V), weight_sum: new Float32Array(B),
    next_token: new BigInt64Array(B), next_logit: new Float32Array(B), next_weight: new Float32Array(B) }
  const best = async (f: () => unknown | Promise<unknown>) => {
    let ms = Infinity
    for (let i = 0; i < 8; i++) { const t = performance.now(); await f(); if (i >= 2) ms = Math.min(ms, performance.now() - t) }
    return ms
  }
  // the head as a CPU engine builds it (the host sampler draws), and with the graph's own draw (CUDA's)
  const headTime = async (draw: boolean) => {
    const g = new Graph('float32')
    samplingHead(g, g.input('logits', 'float32', ['batch_size', V]), V, draw)
    const dir = mkdtempSync(join(tmpdir(), 'bench-sampling-'))
    g.save(dir, 'head.onnx')
    const session = await createSession(join(dir, 'head.onnx'), { threads })
    const inputs: [string, NativeTensor][] = [['logits', { type: 'float32', dims: [B, V], data: logits }], ['inverse_temperature', { type: 'float32', dims: [B], data: new Float32Array(B).fill(1) }]]
    if (draw) inputs.push(['uniform', { type: 'float32', dims: [B], data: Float32Array.from({ length: B }, () => random()) }])
    const outputs = Object.entries(out).filter(([name]) => draw || !name.startsWith('next_'))
      .map(([name, data]) => [name, { type: data instanceof BigInt64Array ? 'int64' : 'float32', dims: name === 'weights' ? [B, V] : [B], data }] as [string, NativeTensor])
    const ms = await best(() => session.run(inputs, outputs))
    session.release()
    rmSync(dir, { recursive: true, force: true })
    return ms
  }
  const drawMs = await headTime(true)
  const headMs = await headTime(false)
  const row = (b: number) => ({ logits: logits.subarray(b * V, (b + 1) * V), weights: out.weights.subarray(b * V, (b + 1) * V), weightSum: out.weight_sum[b], logZ: out.log_z[b], argmax: Number(out.argmax[b]) })
  const cases: [string, SamplingOptions][] = [['greedy', { temperature: 0 }], ['temperature 1', { temperature: 1 }], ['top-p 0.9', { temperature: 1, topP: 0.9 }], ['top-k 50, top-p 0.95', { temperature: 0.7, topK: 50, topP: 0.95 }]]
  const lines: string[] = []
  for (const [name, options] of cases) {
    // weights as the graph computes them at this temperature (the head above ran at 1)
    const host = await best(() => { for (let b = 0; b < B; b++) sampleToken(row(b), { ...options, logprobs: 'sampling' }, random()) })
    lines.push(`| ${name} | ${headMs.toFixed(1)} | ${host.toFixed(1)} | ${stepMs.toFixed(0)} | ${((100 * (headMs + host)) / stepMs).toFixed(1)}% |`)
  }
  return [
    `Sampling at V = ${V}, batch ${B}, ${machine()}: the graph's sampling head as a CPU engine builds it (argmax, logsumexp, weights, their sum) run alone over [${B}, ${V}] logits, ` +
      `and the host sampler over its outputs, best of 6; next to one decode step of the Qwen3-0.6B geometry at batch ${B} (fp32, context 64: the shortest step, so the largest share), measured in this run. ` +
      `The head with the graph's own draw (a cumulative sum over the vocabulary, built for CUDA engines, where it keeps the weights on the device): ${drawMs.toFixed(1)} ms on this CPU.`,
    '',
    '| sampling | graph head (ms per step) | host sampler (ms per step, 32 rows) | decode step (ms) | share of the step |',
    '|---|---|---|---|---|',
    ...lines,
  ].join('\n')
}

const SECTIONS: Record<string, () => Promise<string>> = { toy, real, sampling, quality, '4b': fourB }
for (const name of values.only.split(',')) {
  if (!SECTIONS[name]) throw new Error(`--only: no section ${name} (sections: ${Object.keys(SECTIONS).join(', ')})`)
  writeSection('engine', name, await SECTIONS[name](), Object.keys(SECTIONS))
}
