// One measurement of bench/engine.ts in a process of its own, so that its peak RSS is its own:
// B sequences of `context` prompt tokens (the benchmarks' token pattern), greedy, `newTokens` each.
// Prints one JSON line: prefill tokens/s (every prompt in the cache, to the first token of the last
// one), decode tokens/s (every sequence's tokens after that, over the time to the last one) and the
// peak RSS; after a warm-up generation of 2 tokens.
//   tsx bench/engine-run.ts '{"engine": "ours", "model": DIR, "cacheDir": DIR, "threads": 2, "batch": 8, "context": 512, "newTokens": 32, "quantize": 8}'
//   tsx bench/engine-run.ts '{"engine": "transformers.js", "onnxDir": DIR, ...}'   (a folder exported by exportOnnx, logits 'last')
import { dirname, basename } from 'node:path'
import { resourceUsage } from 'node:process'
import { Generator } from '../gpu-worker/engine/generate.ts'
import { Engine } from '../gpu-worker/engine/session.ts'

interface Task {
  engine: 'ours' | 'transformers.js'
  model?: string
  cacheDir?: string
  onnxDir?: string
  threads: number
  batch: number
  context: number
  newTokens: number
  quantize?: 8 | 4
}

const task: Task = JSON.parse(process.argv[2])
const prompt = (b: number) => Array.from({ length: task.context }, (_, j) => (b * 31 + j * 7) % 256)

/**
 * Prefill and decode rates from the start time, each sequence's first-token time and the times of
 * every token of every sequence: decode counts the tokens that arrive after the last first token.
 */
function rates(start: number, firsts: number[], stamps: number[]) {
  const prefilled = Math.max(...firsts)
  const decode = stamps.filter((t) => t > prefilled)
  return {
    prefill_tokens_per_s: (task.batch * task.context) / ((prefilled - start) / 1000),
    decode_tokens_per_s: decode.length / ((Math.max(...decode) - prefilled) / 1000),
  }
}

async function ours() {
  const engine = await Engine.load(task.model!, { cacheDir: task.cacheDir, threads: task.threads, quantize: task.quantize })
  const generator = new Generator(engine, { maxBatch: task.batch })
  await generator.generate({ promptIds: prompt(0).slice(0, 8), maxNewTokens: 2, temperature: 0, stopTokenIds: [] }) // warm-up
  const firsts: number[] = []
  const stamps: number[] = []
  const start = performance.now()
  await Promise.all(Array.from({ length: task.batch }, (_, b) => {
    let n = 0
    return generator.generate({
      promptIds: prompt(b), maxNewTokens: task.newTokens, temperature: 0, stopTokenIds: [],
      onToken: () => (n++ === 0 ? firsts : stamps).push(performance.now()),
    })
  }))
  const result = rates(start, firsts, stamps)
  await engine.dispose()
  return result
}

async function transformersJs() {
  const { AutoModelForCausalLM, Tensor, env } = await import('@huggingface/transformers')
  env.allowRemoteModels = false
  env.localModelPath = dirname(task.onnxDir!) + '/'
  const model = await AutoModelForCausalLM.from_pretrained(basename(task.onnxDir!), {
    dtype: 'fp32', device: 'cpu', session_options: { intraOpNumThreads: task.threads, interOpNumThreads: 1 },
  })
  const ids = Array.from({ length: task.batch }, (_, b) => prompt(b)).flat()
  await model.generate({ input_ids: new Tensor('int64', BigInt64Array.from(ids.slice(0, 8), BigInt), [1, 8]), max_new_tokens: 2, do_sample: false } as never) // warm-up
  const stamps: number[] = []
  const start = performance.now()
  await model.generate({
    input_ids: new Tensor('int64', BigInt64Array.from(ids, BigInt), [task.batch, task.context]),
    attention_mask: new Tensor('int64', new BigInt64Array(ids.length).fill(1n), [task.batch, task.context]),
    max_new_tokens: task.newTokens, do_sample: false,
    // put() is called with the prompt, then once per step with every sequence's token
    streamer: { put: () => stamps.push(performance.now()), end: () => {} },
  } as never)
  await model.dispose()
  const [first, ...steps] = stamps.slice(1)
  return rates(start, [first], steps.flatMap((t) => new Array<number>(task.batch).fill(t)))
}

const result = task.engine === 'ours' ? await ours() : await transformersJs()
console.log(JSON.stringify({ ...result, peak_rss_bytes: resourceUsage().maxRSS * 1024 }))
