// The exported model folder in @huggingface/transformers (an ONNX runner nobody here wrote),
// offline from a local folder: it must greedy-generate exactly the tokens our generator does.
import { join } from 'node:path'
import { AutoModelForCausalLM, AutoTokenizer, Tensor, env } from '@huggingface/transformers'
import { afterAll, describe, expect, it } from 'vitest'
import { exportOnnx, openCheckpoint } from '../../gpu-worker/engine/checkpoint.ts'
import { Generator } from '../../gpu-worker/engine/generate.ts'
import { Engine } from '../../gpu-worker/engine/session.ts'
import { type TinyModelOptions, makeTinyCheckpoint } from '../../gpu-worker/engine/tiny.ts'
import { removeTempDirs, tempDir } from './helpers.ts'
import { firstTurnText, userContentForQuestion } from '../../shared/protocol/template.ts'

afterAll(removeTempDirs)
env.allowRemoteModels = false

/** A tiny checkpoint, its exported folder loaded by transformers.js, and our engine on the same checkpoint. */
async function setup(options: TinyModelOptions) {
  const dir = tempDir()
  makeTinyCheckpoint(join(dir, 'ckpt'), options)
  exportOnnx(openCheckpoint(join(dir, 'ckpt')), join(dir, 'models', 'tiny'), { logits: 'all' })
  env.localModelPath = join(dir, 'models') + '/'
  const theirs = await AutoModelForCausalLM.from_pretrained('tiny', {
    dtype: 'fp32', device: 'cpu', session_options: { intraOpNumThreads: 1, interOpNumThreads: 1 },
  })
  const ours = await Engine.load(join(dir, 'ckpt'), { cacheDir: join(dir, 'cache'), threads: 1 })
  return { theirs, ours, tokenizer: () => AutoTokenizer.from_pretrained('tiny') }
}

/** transformers.js greedy generation for left-padded prompts; each row's new tokens up to and including its first eos. */
async function theirGreedy(model: Awaited<ReturnType<typeof AutoModelForCausalLM.from_pretrained>>, prompts: number[][], maxNewTokens: number, eos: number[], pad: number) {
  const L = Math.max(...prompts.map((p) => p.length))
  const ids = prompts.flatMap((p) => [...new Array(L - p.length).fill(pad), ...p])
  const mask = prompts.flatMap((p) => [...new Array(L - p.length).fill(0), ...p.map(() => 1)])
  const out = (await model.generate({
    input_ids: new Tensor('int64', BigInt64Array.from(ids, BigInt), [prompts.length, L]),
    attention_mask: new Tensor('int64', BigInt64Array.from(mask, BigInt), [prompts.length, L]),
    max_new_tokens: maxNewTokens,
    do_sample: false,
  } as never)) as Tensor
  const width = out.dims[1]
  const all = Array.from(out.data as BigInt64Array, Number)
  return prompts.map((_, b) => {
    const fresh = all.slice(b * width + L, (b + 1) * width)
    const end = fresh.findIndex((t) => eos.includes(t))
    return end < 0 ? fresh : fresh.slice(0, end + 1)
  })
}

describe('exported folder in @huggingface/transformers 4.3.2', () => {
  it('greedy-generates exactly our tokens, one prompt and a left-padded batch (GQA, untied, head_dim != hidden/heads)', async () => {
    const { theirs, ours } = await setup({ seed: 21, numHeads: 4, numKvHeads: 2, headDim: 24, tieWordEmbeddings: false })
    const prompts = [[257, 120, 45, 67, 258, 10], [33, 34], [5, 6, 7, 8, 9, 10, 11, 12, 13]]
    const generator = new Generator(ours, { maxBatch: 8 })
    const mine = await Promise.all(prompts.map((p) => generator.generate({ promptIds: p, maxNewTokens: 24, temperature: 0 })))
    const { stopTokenIds } = ours.checkpoint
    for (let i = 0; i < prompts.length; i++) {
      const [single] = await theirGreedy(theirs, [prompts[i]], 24, stopTokenIds, 256)
      expect(mine[i].tokens).toEqual(single)
    }
    expect(await theirGreedy(theirs, prompts, 24, stopTokenIds, 256)).toEqual(mine.map((r) => r.tokens))
    expect(new Set(mine.flatMap((r) => r.tokens)).size).toBeGreaterThan(5) // not a degenerate model
    await ours.dispose()
  })

  it('with the real Qwen3 tokenizer and chat template (vocab 151936, tied)', async () => {
    const { theirs, ours, tokenizer } = await setup({ seed: 22, tokenizer: 'qwen3', hiddenSize: 32, numHeads: 2, numKvHeads: 1, numLayers: 1 })
    const tok = await tokenizer()
    // the checkpoint's own (Prompt-R1) chat template, applied by transformers.js, gives the protocol's first turn
    const content = userContentForQuestion('What is 2 + 3?')
    const text = tok.apply_chat_template([{ role: 'user', content }], { add_generation_prompt: true, tokenize: false }) as string
    expect(text).toBe(firstTurnText(content))
    const prompt = tok.encode(text)
    expect(prompt.slice(0, 3)).toEqual([151644, 8948, 198]) // <|im_start|>system\n
    const mine = await new Generator(ours).generate({ promptIds: prompt, maxNewTokens: 12, temperature: 0 })
    expect(mine.tokens).toEqual((await theirGreedy(theirs, [prompt], 12, ours.checkpoint.stopTokenIds, 151643))[0])
    await ours.dispose()
  })
})
