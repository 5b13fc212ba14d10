// llama.cpp (node-llama-cpp's prebuilt CPU build) as a peer of the engine benchmark and as the
// reader that checks the GGUF export (test/reference/gguf.test.ts). Reads one JSON task on stdin,
// prints one JSON answer on stdout:
//   {"kind": "generate", "model": FILE, "threads": 2, "batch": 8, "context": 2048, "newTokens": 16}
//       B sequences of `context` prompt tokens (the benchmarks' pattern), greedy: prefill tokens/s
//       (every prompt evaluated, to the first token of the last one), decode tokens/s (every
//       sequence's tokens after that, over the time to the last one) and the process's peak RSS;
//       after a warm-up of 2 tokens.
//   {"kind": "greedy", "model": FILE, "prompts": [[ids]], "newTokens": 24}     greedy tokens of each prompt (F32 KV cache)
//   {"kind": "tokenize", "model": FILE, "texts": ["..."]}                      ids, special tokens parsed
// `generate` keeps llama.cpp's default KV cache, F16 (ours is float32).
import { resourceUsage } from 'node:process'
import { LlamaLogLevel, getLlama } from 'node-llama-cpp'

const task = JSON.parse(await new Response(process.stdin).text())
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, maxThreads: task.threads ?? 1 })
const model = await llama.loadModel({ modelPath: task.model, gpuLayers: 0, useMmap: true })
const prompt = (b, length) => Array.from({ length }, (_, j) => (b * 31 + j * 7) % 256)

async function generate({ threads, batch, context, newTokens }) {
  const ctx = await model.createContext({ contextSize: context + newTokens + 8, sequences: batch, threads: { ideal: threads, min: threads }, batchSize: 512 })
  const sequences = Array.from({ length: batch }, () => ctx.getSequence())
  let warm = 0
  for await (const _ of sequences[0].evaluate(prompt(0, 8), { temperature: 0 })) if (++warm >= 2) break
  await sequences[0].clearHistory()
  const start = performance.now()
  const firsts = []
  const stamps = []
  await Promise.all(sequences.map(async (sequence, b) => {
    let n = 0
    for await (const _ of sequence.evaluate(prompt(b, context), { temperature: 0 })) {
      (n === 0 ? firsts : stamps).push(performance.now())
      if (++n >= newTokens) break
    }
  }))
  const prefilled = Math.max(...firsts)
  // decode: every sequence's tokens after the last first token, over the time to the last one
  const decode = stamps.filter((t) => t > prefilled)
  await ctx.dispose()
  return {
    prefill_tokens_per_s: (batch * context) / ((prefilled - start) / 1000),
    decode_tokens_per_s: decode.length / ((Math.max(...decode) - prefilled) / 1000),
    peak_rss_bytes: resourceUsage().maxRSS * 1024,
  }
}

async function greedy({ prompts, newTokens }) {
  // a float32 KV cache, so that only the summation order differs from the engine's
  const ctx = await model.createContext({
    contextSize: Math.max(...prompts.map((p) => p.length)) + newTokens + 8, sequences: 1, threads: 1,
    experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32',
  })
  const out = []
  for (const ids of prompts) {
    const sequence = ctx.getSequence()
    const tokens = []
    for await (const token of sequence.evaluate(ids, { temperature: 0 })) if (tokens.push(token) >= newTokens) break
    sequence.dispose()
    out.push(tokens)
  }
  await ctx.dispose()
  return out
}

const answers = { generate, greedy, tokenize: ({ texts }) => texts.map((text) => model.tokenize(text, true)) }
if (!answers[task.kind]) throw new Error(`unknown task ${task.kind}`)
console.log(JSON.stringify(await answers[task.kind](task)))
await model.dispose()
await llama.dispose()
