// Train-step throughput: one forward and backward of the full GRPO loss (loss, metrics and every
// trainable gradient in one session run), next to the float32 MatMul FLOP rate onnxruntime reaches
// in the same process right after, and the peak memory (max RSS) of each case, each case in a child
// process of its own (so its peak is its own). Two sections:
//   toy   a ~50M-parameter Qwen3 config, batch 4 x 256: full fine-tuning, with recomputation, LoRA;
//   real  the Qwen3-0.6B geometry (make-tiny-model's preset, bf16 on disk, vocab 151936): LoRA r=16
//         on all projections at 1 x 1024, 4096 and 8192 tokens, full fine-tuning at 1 x 1024.
// The PyTorch peer (bench/peers/pytorch.py) runs the same checkpoint and tokens where a case has
// at most 1024 tokens. Writes bench/results/train/SECTION.md and bench/results/train.md. Not a test.
//   npm run bench:train [-- --only toy,real --threads 2 --max-length 1024 (only the cases of at most that many tokens)]
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { openCheckpoint } from '../gpu-worker/engine/checkpoint.ts'
import { LORA_TARGETS, type LoraTarget, type Qwen3Config, qwen3WeightShapes } from '../gpu-worker/engine/qwen3.ts'
import { type Preset, makeTinyCheckpoint } from '../gpu-worker/engine/tiny.ts'
import { GRPO_LOSS_DEFAULTS, lossWeights } from '../gpu-worker/training/loss.ts'
import { PolicyModel, packBatch } from '../gpu-worker/training/model.ts'
import { matmulRate, pytorchPeer, writeSection } from './common.ts'
import { presetCheckpoint } from './engine-real.ts'

const { values } = parseArgs({ options: { only: { type: 'string', default: 'toy,real' }, threads: { type: 'string', default: '2' }, 'max-length': { type: 'string' }, case: { type: 'string' } } })
const threads = Number(values.threads)

const TOY = { seed: 1, hiddenSize: 512, intermediateSize: 1536, numLayers: 16, numHeads: 8, numKvHeads: 4, headDim: 64 }
const MODES = { full: 'full fine-tuning', recompute: 'full fine-tuning, per-layer recomputation', lora: 'LoRA r=16, all projections' } as const
type Mode = keyof typeof MODES
/** One measurement: a model (the toy config or a preset), a mode, `batch` sequences of `length` tokens, the best of `steps` after a warm-up. */
interface Case { model: 'toy' | Preset; mode: Mode; batch: number; length: number; prompt: number; steps: number }

const SECTIONS: Record<string, Case[]> = {
  toy: (['full', 'recompute', 'lora'] as const).map((mode) => ({ model: 'toy', mode, batch: 4, length: 256, prompt: 64, steps: 3 })),
  real: [
    ...[1024, 4096, 8192].map((length): Case => ({ model: 'qwen3-0.6b', mode: 'lora', batch: 1, length, prompt: 512, steps: 1 })),
    { model: 'qwen3-0.6b', mode: 'full', batch: 1, length: 1024, prompt: 512, steps: 1 },
  ],
}
/** The MatMul each section is compared with: one of its models' own products over a chunk of positions. */
const MATMUL: Record<string, [number, number, number]> = { toy: [512, 512, 2048], real: [1024, 1024, 3072] }

interface CaseResult {
  config: Qwen3Config; params: number; trainable: number; recompute: boolean
  buildS: number; stepS: number; forwardS: number; matmul: number; maxRssMb: number
  /** The PyTorch peer's step on the same checkpoint and tokens, or why there is none. */
  torch: Record<string, number> | { missing: string }
}

/** One case, in this process: build the sessions, time the train step and the forward-only logprobs. */
async function runCase(k: Case, matmulShape: [number, number, number]): Promise<CaseResult> {
  const scratch = mkdtempSync(join(tmpdir(), 'bench-train-'))
  try {
    const dir = k.model === 'toy' ? scratch : presetCheckpoint(k.model)
    if (k.model === 'toy') makeTinyCheckpoint(dir, TOY)
    const ckpt = openCheckpoint(dir)
    const c = ckpt.config
    const params = [...qwen3WeightShapes(c).values()].reduce((n, shape) => n + shape.reduce((a, b) => a * b, 1), 0)
    const built = performance.now()
    const model = await PolicyModel.create(c, (n) => ckpt.weights.read(n, 'float32'), {
      loss: GRPO_LOSS_DEFAULTS, session: { threads }, seed: 1, recompute: k.mode === 'recompute' ? true : undefined,
      lora: k.mode === 'lora' ? { rank: 16, alpha: 32, targets: Object.keys(LORA_TARGETS) as LoraTarget[] } : undefined,
    })
    let trainable = 0
    for (const v of model.params.values()) trainable += v.length
    // Rows of length + 1 tokens: a prompt, then a response whose middle third is environment feedback (mask 0).
    const rows = Array.from({ length: k.batch }, (_, b) => {
      const tokens = Array.from({ length: k.length + 1 }, (_, i) => (b * 31 + i * 7919) % c.vocabSize)
      const response = k.length + 1 - k.prompt
      return { tokens, promptLength: k.prompt, lossMask: Array.from({ length: response }, (_, i) => (i > response / 3 && i < (2 * response) / 3 ? 0 : 1)) }
    })
    const batch = packBatch(rows, 0)
    const old = await model.tokenLogprobs(batch) // builds the sessions
    const buildS = (performance.now() - built) / 1000
    const x = {
      advantages: batch.segmentIds.map((s) => (s % 2 ? 0.7 : -0.9)), oldLogprobs: old, refLogprobs: old,
      weights: lossWeights([batch], { kind: 'token-mean' })[0],
    }
    const best = async (f: () => Promise<unknown>, runs: number) => {
      const times: number[] = []
      for (let i = 0; i < runs; i++) {
        const t = performance.now()
        await f()
        times.push((performance.now() - t) / 1000)
      }
      return Math.min(...times)
    }
    await model.gradients(batch, x) // warm-up
    const stepS = await best(() => model.gradients(batch, x), k.steps)
    const forwardS = await best(() => model.tokenLogprobs(batch), k.steps)
    const recompute = model.recomputes(batch.length)
    await model.dispose()
    const matmul = await matmulRate(threads, 'input', matmulShape)
    const maxRssMb = process.resourceUsage().maxRSS / 1024
    const torch = k.length > 1024
      ? { missing: 'not run above 1024 tokens (its step takes as long as ours; the 1024-token rows compare)' }
      : pytorchPeer(['train-step', '--model', dir, '--threads', String(threads), '--batch', String(k.batch), '--length', String(k.length), '--prompt', String(k.prompt),
        '--steps', String(k.steps), '--mode', k.mode === 'lora' ? 'lora' : 'full', ...(recompute ? ['--recompute'] : [])])
    return { config: c, params, trainable, recompute, buildS, stepS, forwardS, matmul, maxRssMb, torch }
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
}

/**
 * Model FLOPs per token of the forward: 2 per weight (the tied embedding counts once, as the LM
 * head's product) plus causal attention, 4 x head_dim per head per earlier position (a sequence of
 * L tokens averages L/2). Backward: the activations' gradients (1x the forward) plus, for full
 * fine-tuning, every weight's (1x more). Recomputation's extra forward is not counted: it is the
 * price, not useful work.
 */
function stepFlopsPerToken(r: CaseResult, k: Case): number {
  const c = r.config
  const forward = 2 * r.params + 4 * c.numLayers * c.numHeads * c.headDim * (k.length / 2)
  return forward * (k.mode === 'lora' ? 2 : 3)
}

function sectionTable(section: string, cases: Case[], results: CaseResult[], load: number): string {
  const c = results[0].config
  const [m, kk, n] = MATMUL[section]
  const rows = results.map((r, i) => {
    const k = cases[i]
    const tokens = (k.batch * k.length) / r.stepS
    const rate = tokens * stepFlopsPerToken(r, k)
    const torch = 'missing' in r.torch ? `n/a: ${r.torch.missing} | n/a` : `${r.torch.step_s.toFixed(2)} s (${(r.torch.max_rss_mb / 1024).toFixed(2)} GB) | ${(r.torch.step_s / r.stepS).toFixed(2)}`
    return `| ${MODES[k.mode]} | ${k.batch} x ${k.length} | ${(r.trainable / 1e6).toFixed(2)}M | ${r.recompute ? 'yes' : 'no'} | ${r.stepS.toFixed(2)} s | ${tokens.toFixed(0)} | ` +
      `${(rate / 1e9).toFixed(1)} GFLOP/s | ${(r.matmul / 1e9).toFixed(0)} GFLOP/s | ${(rate / r.matmul).toFixed(2)} | ${torch} | ${r.forwardS.toFixed(2)} s | ` +
      `${r.buildS.toFixed(1)} s | ${(r.maxRssMb / 1024).toFixed(2)} GB |`
  })
  const model = section === 'toy' ? 'a Qwen3 config' : `the ${cases[0].model} geometry (random weights, bf16 on disk)`
  return [
    `Train-step throughput, ${model} with ${(results[0].params / 1e6).toFixed(1)}M parameters (hidden ${c.hiddenSize}, ${c.numLayers} layers, ` +
      `${c.numHeads} heads / ${c.numKvHeads} KV heads, head_dim ${c.headDim}, intermediate ${c.intermediateSize}, vocab ${c.vocabSize}, tied), float32, ` +
      `CPU (${cpus()[0]?.model.trim()}, ${cpus().length} cores), ${threads} intra-op threads. Each row's sequences are packed into one row ` +
      `(segment-causal attention in blocks of 1024 queries, the LM head in chunks of 1024 positions); a prompt of ${cases[0].prompt} tokens, ` +
      `the middle third of each response masked as environment feedback. One step = loss, metrics and every trainable gradient of the full ` +
      `GRPO loss in one session run; best of ${cases[0].steps} after a warm-up. Recomputation: per layer, chosen by the trainer when the ` +
      `activations would exceed a quarter of the memory (or asked for). Model FLOPs per token: forward 2 x parameters + causal attention ` +
      `(4 x head_dim x heads x layers x length / 2); x3 for full fine-tuning, x2 for LoRA (no base-weight gradients). MatMul: ` +
      `[${m},${kk}]x[${kk},${n}] float32, both inputs fed, in the same process right after the steps. PyTorch peer (bench/peers/pytorch.py): ` +
      `the same checkpoint and tokens unpacked, TRL's "grpo" loss (clipped ratio, k3 KL, per-sequence token mean) forward and backward, LoRA ` +
      `through PEFT, recomputation as gradient checkpointing where ours recomputes, the same threads, in its own process. Session build: ` +
      `the train and logprob sessions plus the first logprob run. Load average at start ${load.toFixed(1)}.`,
    '',
    '| mode | tokens | trainable | recompute | step | tokens/s | model FLOP rate | MatMul rate | ratio | PyTorch TRL-style step (peak RSS) | PyTorch step / ours | forward-only logprobs | session build | peak RSS |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n')
}

if (values.case) {
  // A child: one case, its result as the last line of stdout.
  const { k, section } = JSON.parse(values.case) as { k: Case; section: string }
  console.log(JSON.stringify(await runCase(k, MATMUL[section])))
} else {
  for (const section of values.only!.split(',')) {
    const all = SECTIONS[section] ?? (() => { throw new Error(`bench/train: no section "${section}" (${Object.keys(SECTIONS).join(', ')})`) })()
    const cases = all.filter((k) => !values['max-length'] || k.length <= Number(values['max-length']))
    const load = loadavg()[0]
    const results = cases.map((k) => {
      console.error(`bench/train ${section}: ${MODES[k.mode]}, ${k.batch} x ${k.length} ...`)
      const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--threads', values.threads!, '--case', JSON.stringify({ k, section })],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
      if (child.status !== 0) throw new Error(`bench/train ${section} ${k.mode} ${k.length} failed (status ${child.status})`)
      return JSON.parse(child.stdout.trim().split('\n').at(-1)!) as CaseResult
    })
    writeSection('train', section, sectionTable(section, cases, results, load), Object.keys(SECTIONS))
  }
}
