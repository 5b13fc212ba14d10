// Train-step throughput for a ~50M-parameter Qwen3 config: tokens/s through one forward and backward
// of the full GRPO loss (one onnxruntime session run, gradients copied out), for full fine-tuning
// and for LoRA, next to the float32 MatMul FLOP rate onnxruntime reaches in the same process right
// after; peak memory (max RSS) of each mode. Each mode runs in its own child process, so its peak
// is its own. Writes a markdown table to bench/results/train.md (and prints it). Not a test.
//   npm run bench (bench/index.ts) or: npx tsx bench/train.ts [-- --threads 2 --batch 4 --length 256 --steps 3]
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { openCheckpoint } from '../gpu-worker/engine/checkpoint.ts'
import { makeTinyCheckpoint } from '../gpu-worker/engine/tiny.ts'
import { GRPO_LOSS_DEFAULTS, lossWeights } from '../gpu-worker/training/loss.ts'
import { LORA_TARGETS, type LoraTarget } from '../gpu-worker/engine/qwen3.ts'
import { PolicyModel, packBatch } from '../gpu-worker/training/model.ts'
import { matmulRate, pytorchPeer, writeTable } from './common.ts'

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' }, batch: { type: 'string', default: '4' }, length: { type: 'string', default: '256' },
    steps: { type: 'string', default: '3' }, mode: { type: 'string' },
  },
})
const threads = Number(values.threads), B = Number(values.batch), L = Number(values.length), STEPS = Number(values.steps)
const MODEL = { seed: 1, hiddenSize: 512, intermediateSize: 1536, numLayers: 16, numHeads: 8, numKvHeads: 4, headDim: 64 }
const MODES = { full: 'full fine-tuning', recompute: 'full fine-tuning, per-layer recomputation', lora: 'LoRA r=16, all projections' } as const
type Mode = keyof typeof MODES

interface ModeResult {
  mode: Mode; params: number; trainable: number; buildS: number; stepS: number; forwardS: number; matmul: number; maxRssMb: number
  /** The PyTorch peer's step on the same checkpoint and tokens, or why there is none. */
  torch: Record<string, number> | { missing: string }
}

/** One mode, in this process: build the sessions, then time STEPS train steps (after one warm-up) and forward-only logprobs. */
async function runMode(mode: Mode): Promise<ModeResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-train-'))
  try {
    const c = makeTinyCheckpoint(dir, MODEL)
    const ckpt = openCheckpoint(dir)
    let params = 0
    for (const t of ckpt.weights.tensors.values()) params += (t.end - t.start) / 4
    const built = performance.now()
    const model = await PolicyModel.create(c, (n) => ckpt.weights.read(n, 'float32'), {
      loss: GRPO_LOSS_DEFAULTS, session: { threads }, seed: 1, recompute: mode === 'recompute',
      lora: mode === 'lora' ? { rank: 16, alpha: 32, targets: Object.keys(LORA_TARGETS) as LoraTarget[] } : undefined,
    })
    const buildS = (performance.now() - built) / 1000
    let trainable = 0
    for (const v of model.params.values()) trainable += v.length
    // Rows of L + 1 tokens: a 64-token prompt, then a response whose middle third is environment feedback (mask 0).
    const rows = Array.from({ length: B }, (_, b) => {
      const tokens = Array.from({ length: L + 1 }, (_, i) => (b * 31 + i * 7) % 256)
      const response = L + 1 - 64
      return { tokens, promptLength: 64, lossMask: Array.from({ length: response }, (_, i) => (i > response / 3 && i < (2 * response) / 3 ? 0 : 1)) }
    })
    const batch = packBatch(rows, 0)
    const old = await model.tokenLogprobs(batch)
    const x = { advantages: Array.from({ length: B * L }, (_, i) => (Math.floor(i / L) % 2 ? 0.7 : -0.9)), oldLogprobs: old, refLogprobs: old, weights: lossWeights([batch], { kind: 'token-mean' })[0] }
    const time = async (f: () => Promise<unknown>) => {
      await f() // warm-up
      const times: number[] = []
      for (let i = 0; i < STEPS; i++) {
        const t = performance.now()
        await f()
        times.push((performance.now() - t) / 1000)
      }
      return Math.min(...times)
    }
    const stepS = await time(() => model.gradients(batch, x))
    const forwardS = await time(() => model.tokenLogprobs(batch))
    await model.dispose()
    const matmul = await matmulRate(threads, 'input')
    const maxRssMb = process.resourceUsage().maxRSS / 1024
    const torch = pytorchPeer(['train-step', '--model', dir, '--threads', String(threads), '--batch', String(B), '--length', String(L), '--prompt', '64',
      '--steps', String(STEPS), '--mode', mode === 'lora' ? 'lora' : 'full', ...(mode === 'recompute' ? ['--recompute'] : [])])
    return { mode, params, trainable, buildS, stepS, forwardS, matmul, maxRssMb, torch }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (values.mode) {
  // A child: one mode, its result as the last line of stdout.
  console.log(JSON.stringify(await runMode(values.mode as Mode)))
} else {
  const load = loadavg()[0]
  const results: ModeResult[] = []
  for (const mode of Object.keys(MODES) as Mode[]) {
    console.error(`bench/train: ${MODES[mode]} ...`)
    const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--mode', mode, '--threads', values.threads!, '--batch', values.batch!, '--length', values.length!, '--steps', values.steps!], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    if (child.status !== 0) throw new Error(`bench/train --mode ${mode} failed (status ${child.status})`)
    results.push(JSON.parse(child.stdout.trim().split('\n').at(-1)!))
  }
  const c = MODEL
  // FLOPs per token of the forward: 2 per weight (the tied embedding is the LM head's matmul) plus
  // attention, 4 * head_dim per head per position (the graph computes the full L x L scores).
  const forwardFlops = (params: number) => 2 * params + 4 * c.numLayers * c.numHeads * c.headDim * L
  const rows = results.map((r) => {
    const tokens = (B * L) / r.stepS
    // Backward: activations' gradients (1x the forward) plus, for full fine-tuning, every weight's
    // (1x more). Recomputation's extra forward is not counted: it is the price, not useful work.
    const flops = forwardFlops(r.params) * (r.mode === 'lora' ? 2 : 3)
    const rate = tokens * flops
    const torch = 'missing' in r.torch ? `n/a: ${r.torch.missing} | n/a` : `${r.torch.step_s.toFixed(2)} s (${(r.torch.max_rss_mb / 1024).toFixed(2)} GB) | ${(r.torch.step_s / r.stepS).toFixed(2)}`
    return `| ${MODES[r.mode]} | ${(r.trainable / 1e6).toFixed(2)}M | ${r.stepS.toFixed(2)} s | ${tokens.toFixed(0)} | ${(rate / 1e9).toFixed(1)} GFLOP/s | ${(r.matmul / 1e9).toFixed(0)} GFLOP/s | ${(rate / r.matmul).toFixed(2)} | ${torch} | ${r.forwardS.toFixed(2)} s | ${r.buildS.toFixed(1)} s | ${(r.maxRssMb / 1024).toFixed(2)} GB |`
  })
  const table = [
    `Train-step throughput, Qwen3 config with ${(results[0].params / 1e6).toFixed(1)}M parameters (hidden ${c.hiddenSize}, ${c.numLayers} layers, ` +
      `${c.numHeads} heads / ${c.numKvHeads} KV heads, head_dim ${c.headDim}, intermediate ${c.intermediateSize}, vocab 288, tied), float32, ` +
      `CPU (${cpus()[0]?.model.trim()}, ${cpus().length} cores), ${threads} intra-op threads; batch ${B} x ${L} tokens; one step = loss, metrics and ` +
      `every trainable gradient of the full GRPO loss in one session run, gradients copied out; best of ${STEPS} after a warm-up. ` +
      `Model FLOPs per token: forward 2 x parameters + attention (4 x head_dim x heads x layers x ${L}); x3 for full fine-tuning, x2 for LoRA ` +
      `(no base-weight gradients). MatMul: [512,512]x[512,2048] float32, both inputs fed, in the same process right after the steps. ` +
      `PyTorch peer (bench/peers/pytorch.py): the same checkpoint and tokens, TRL's "grpo" loss (clipped ratio, k3 KL, per-sequence token mean) ` +
      `forward and backward, LoRA through PEFT, recomputation as gradient checkpointing, the same threads, in its own process. ` +
      `Load average at start ${load.toFixed(1)}.`,
    '',
    '| mode | trainable | step | tokens/s | model FLOP rate | MatMul rate | ratio | PyTorch TRL-style step (peak RSS) | PyTorch step / ours | forward-only logprobs | session build | peak RSS |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n')
  writeTable('train', table)
}
