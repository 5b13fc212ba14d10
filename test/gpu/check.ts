// The GPU check (test/gpu/README.md): run on one CUDA GPU worker, not in CI. Under 8 minutes:
//   1. the CUDA provider starts (else the message that names what is missing);
//   2. the device's copy bandwidth, measured through onnxruntime on device buffers;
//   3. Qwen3-0.6B geometry: decode tokens/s at batch 1 and 8 (KV cache in device memory, sampling
//      in the graph, only token ids leave the device) next to the bandwidth bound;
//   4. the same at the Qwen3-4B geometry, batch 1;
//   5. greedy tokens of the engine on CUDA equal PyTorch transformers' on the same GPU and checkpoint
//      (float32, TF32 off on both sides), prompts of different lengths decoded together.
// Prints a markdown table and writes it to $OUT/gpu-check.md when OUT is set; exits 1 if a check fails.
//   npx tsx test/gpu/check.ts [--python python3] [--work /tmp/gpu-check] [--skip-4b]
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Generator } from '../../gpu-worker/engine/generate.ts'
import { checkProvider, createSession } from '../../gpu-worker/engine/native.ts'
import { Graph } from '../../gpu-worker/engine/onnx.ts'
import { Engine } from '../../gpu-worker/engine/session.ts'
import { type Preset, makeTinyCheckpoint, presetOptions } from '../../gpu-worker/engine/tiny.ts'
import { kvBytesPerToken, weightBytes } from '../../bench/engine-real.ts'

const { values } = parseArgs({ options: { python: { type: 'string', default: 'python3' }, work: { type: 'string' }, 'skip-4b': { type: 'boolean', default: false } } })
const work = values.work ?? mkdtempSync('/tmp/gpu-check-')
mkdirSync(work, { recursive: true })
const settings = { provider: 'cuda' as const, deviceId: 0 }
const lines: string[] = []
let failed = false
const report = (line: string) => { lines.push(line); console.log(line) }
const started = performance.now()
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)} s`

await checkProvider(settings)

/** Device copy bandwidth (bytes read + written per second): y = x + 0 over 1 GiB of device memory, best of 10. */
async function deviceBandwidth(): Promise<number> {
  const n = 2 ** 28
  const g = new Graph('float32')
  g.output('y', g.add(g.input('x', 'float32', [n]), g.scalar(0)), 'float32', [n])
  const dir = mkdtempSync(join(work, 'copy-'))
  g.save(dir, 'copy.onnx')
  const session = await createSession(join(dir, 'copy.onnx'), settings)
  const [x, y] = [session.allocate(n * 4), session.allocate(n * 4)]
  let best = Infinity
  for (let i = 0; i < 12; i++) {
    const t = performance.now()
    await session.run([['x', { type: 'float32', dims: [n], device: x, offset: 0 }]], [['y', { type: 'float32', dims: [n], device: y, offset: 0 }]])
    if (i >= 2) best = Math.min(best, performance.now() - t)
  }
  session.release()
  return (2 * n * 4) / (best / 1000)
}

function checkpoint(preset: Preset): string {
  const dir = join(work, preset)
  makeTinyCheckpoint(dir, presetOptions(preset, 1))
  for (const file of ['config.json', 'generation_config.json']) {
    const json = JSON.parse(readFileSync(join(dir, file), 'utf8'))
    json.eos_token_id = file === 'config.json' ? null : []
    writeFileSync(join(dir, file), JSON.stringify(json))
  }
  return dir
}

const prompt = (b: number, length: number) => Array.from({ length }, (_, j) => (b * 31 + j * 7 + 11) % 151000)

/** Decode tokens/s of `batch` sequences of a 512-token prompt, 64 new tokens, after a warm-up. */
async function decodeRate(generator: Generator, batch: number): Promise<number> {
  await generator.generate({ promptIds: prompt(0, 8), maxNewTokens: 2, temperature: 0, stopTokenIds: [] })
  const stamps: number[] = []
  const firsts: number[] = []
  await Promise.all(Array.from({ length: batch }, (_, b) => {
    let n = 0
    return generator.generate({
      promptIds: prompt(b, 512), maxNewTokens: 64, temperature: 0, stopTokenIds: [],
      onToken: () => {
        if (n++ === 0) firsts.push(performance.now())
        if (b === 0) stamps.push(performance.now())
      },
    })
  }))
  const decode = stamps.filter((t) => t >= Math.max(...firsts)) // once every row is prefilled
  return (batch * (decode.length - 1)) / ((decode.at(-1)! - decode[0]) / 1000)
}

const bandwidth = await deviceBandwidth()
report(`Device copy bandwidth through onnxruntime (read + write): ${(bandwidth / 1e12).toFixed(2)} TB/s (${elapsed()})`)
report('')
report('| geometry | batch | tokens/s | bandwidth bound (fp32 weights + KV) | ratio |')
report('|---|---|---|---|---|')

const presets: Preset[] = values['skip-4b'] ? ['qwen3-0.6b'] : ['qwen3-0.6b', 'qwen3-4b']
let greedyDir = ''
for (const preset of presets) {
  const dir = checkpoint(preset)
  if (preset === 'qwen3-0.6b') greedyDir = dir
  const engine = await Engine.load(dir, { ...settings, cacheDir: join(work, 'cache') })
  const generator = new Generator(engine, { maxBatch: 8, maxCacheBytes: 8 * 2 ** 30 })
  for (const batch of preset === 'qwen3-0.6b' ? [1, 8] : [1]) {
    const rate = await decodeRate(generator, batch)
    const c = engine.config
    const bound = (batch * bandwidth) / (weightBytes(c, 4) + batch * 544 * kvBytesPerToken(c, 4))
    report(`| ${preset} | ${batch} | ${rate.toFixed(1)} | ${bound.toFixed(1)} | ${(rate / bound).toFixed(2)} |`)
  }
  await engine.dispose()
}
report('')

// greedy against PyTorch on the 0.6B checkpoint: three prompts of different lengths, decoded together
const prompts = [prompt(1, 5), prompt(2, 40), prompt(3, 300)]
const engine = await Engine.load(greedyDir, { ...settings, cacheDir: join(work, 'cache') })
const generator = new Generator(engine, { maxBatch: 3 })
const ours = await Promise.all(prompts.map(async (promptIds) => (await generator.generate({ promptIds, maxNewTokens: 32, temperature: 0, stopTokenIds: [] })).tokens))
await engine.dispose()
const torch = spawnSync(values.python, [join(import.meta.dirname, 'torch_greedy.py')], { input: JSON.stringify({ model: greedyDir, prompts, new_tokens: 32 }), encoding: 'utf8' })
if (torch.status !== 0) {
  report(`PyTorch greedy: could not run (${torch.stderr.trim().split('\n').at(-1)})`)
  failed = true
} else {
  const theirs = JSON.parse(torch.stdout.trim().split('\n').at(-1)!)
  const same = ours.map((tokens, s) => { const i = tokens.findIndex((t, j) => t !== theirs.tokens[s][j]); return i < 0 ? tokens.length : i })
  const equal = same.every((n) => n === 32)
  report(`Greedy tokens, engine on CUDA vs PyTorch ${theirs.torch} on CUDA (0.6B, prompts of 5, 40, 300 tokens, 32 new each, decoded together): ` +
    `${equal ? 'identical' : `first difference at ${same.join(', ')}`}; PyTorch batch-1 rate ${theirs.tokens_per_s.toFixed(1)} tokens/s`)
  if (!equal) failed = true
}
report(`Total ${elapsed()}`)
if (process.env.OUT) writeFileSync(join(process.env.OUT, 'gpu-check.md'), lines.join('\n') + '\n')
process.exit(failed ? 1 : 0)
