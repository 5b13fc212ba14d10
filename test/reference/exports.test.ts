// The project's exports in the Python ecosystem (live, test/reference/live.py): a merged checkpoint
// written by the trainer (base plus a trained-looking LoRA adapter, real Qwen3 tokenizer) loads with
// AutoModelForCausalLM.from_pretrained and gives the engine's logits; its tokenizer files load with
// AutoTokenizer, and the chat template renders the protocol's first turn and tokenizes it the same.
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openCheckpoint } from '../../gpu-worker/engine/checkpoint.ts'
import { Engine } from '../../gpu-worker/engine/session.ts'
import { makeTinyCheckpoint } from '../../gpu-worker/engine/tiny.ts'
import { GRPO_LOSS_DEFAULTS } from '../../gpu-worker/training/loss.ts'
import { PolicyModel } from '../../gpu-worker/training/model.ts'
import { writeMergedModel } from '../../gpu-worker/training/state.ts'
import { firstTurnText, userContentForQuestion } from '../../shared/protocol/template.ts'
import { ChatTokenizer } from '../../shared/protocol/tokenizer.ts'
import { relativeError } from '../engine/reference.ts'
import { engineLogits, live, liveLogits, liveSkipReason, removeTempDirs, tempDir } from './helpers.ts'
import { TEST_ENGINE } from '../helpers/engine.ts'

afterAll(removeTempDirs)

const skip = liveSkipReason('merged exports loaded by transformers')

describe.skipIf(skip !== null)('exports load in transformers (live)', () => {
  it("a merged checkpoint gives the engine's logits in AutoModelForCausalLM; its chat template renders the protocol's first turn", async () => {
    const baseDir = tempDir()
    makeTinyCheckpoint(baseDir, { seed: 14, tokenizer: 'qwen3', hiddenSize: 32, numHeads: 4, numKvHeads: 2, headDim: 8, intermediateSize: 48, tieWordEmbeddings: true })
    const base = openCheckpoint(baseDir)
    const model = await PolicyModel.create(base.config, (name) => base.weights.read(name, 'float32'), { session: TEST_ENGINE,
      lora: { rank: 4, alpha: 8, targets: ['q', 'v', 'down'] }, loss: GRPO_LOSS_DEFAULTS, seed: 3,
    })
    for (const [name, v] of model.params) if (name.endsWith('lora_B.weight')) v.forEach((_, i) => (v[i] = Math.sin(i + name.length) * 0.1))
    const merged = writeMergedModel(base, model, tempDir())
    await model.dispose()

    const question = 'Who wrote Dune?'
    const tokenizer = await ChatTokenizer.fromFolder(merged)
    const firstTurn = firstTurnText(userContentForQuestion(question))
    const inputs = [tokenizer.encode(firstTurn).slice(0, 40), [9707, 11, 1879, 0]]
    const out = join(tempDir(), 'logits.safetensors')
    const [hf, chat] = await live([
      { kind: 'hf-logits', model: merged, inputs, out },
      { kind: 'chat-template', model: merged, messages: [{ role: 'user', content: userContentForQuestion(question) }] },
    ])
    expect(hf.class).toBe('Qwen3ForCausalLM')
    const engine = await Engine.load(merged, { cacheDir: tempDir(), threads: 1, logits: 'all' })
    try {
      const ours = await engineLogits(engine, inputs)
      const theirs = liveLogits(hf.logits, inputs)
      const error = Math.max(...inputs.flatMap((ids, p) => ids.map((_, j) => relativeError(ours[p][j], theirs[p][j]))))
      console.log(`merged export in transformers: largest relative logit error ${error.toExponential(2)}`)
      expect(error).toBeLessThan(1e-5)
    } finally {
      await engine.dispose()
    }
    expect(chat.text).toBe(firstTurn)
    expect(chat.ids).toEqual(tokenizer.encode(firstTurn))
  })
})
