// The trainer sees exactly what the agent sampled: episodes played by the episode runner (scripted
// agent turns, an environment answering in between, the real Qwen3 tokenizer) are packed as the
// trainer packs them, and the positions whose loss mask is 1 are precisely those whose target is a
// token the agent sampled, in order, while every other response position's target is an inserted
// environment token. A loss mask shifted by one position between runner and trainer fails here.
import { describe, expect, it } from 'vitest'
import type { Policy, PolicyTurn } from '../../shared/protocol/episode.ts'
import { runEpisodes } from '../../shared/protocol/episode.ts'
import { TRAINING_OPTIONS } from '../../shared/protocol/options.ts'
import { userContentForQuestion } from '../../shared/protocol/template.ts'
import { packBatch, perSequence } from '../../gpu-worker/training/model.ts'
import { qwen3Tokenizer } from '../protocol/qwen3-tokenizer.ts'
import { ScriptedPolicy } from '../protocol/scripted-policy.ts'

const callTurn = (prompt: string) =>
  `<think>\nI should ask.\n</think>\n\n<interaction_prompt>${JSON.stringify({ name: 'prompt', arguments: { prompt } })}</interaction_prompt>`
const answerTurn = (answer: string) => `Done.\n</think>\n\n<answer>${answer}</answer>`

/** Records, per episode (by its first context), every token the agent returned, in order. */
class RecordingPolicy implements Policy {
  readonly sampled = new Map<string, number[]>()
  constructor(private readonly inner: Policy) {}
  async generate(contexts: { tokens: number[] }[], options: { maxNewTokens: number; stopTokenIds: number[] }): Promise<PolicyTurn[]> {
    const turns = await this.inner.generate(contexts, options)
    contexts.forEach((context, i) => {
      const key = context.tokens.join(',')
      const episode = [...this.sampled.keys()].find((prompt) => `${key},`.startsWith(`${prompt},`)) ?? key
      this.sampled.set(episode, [...(this.sampled.get(episode) ?? []), ...turns[i].tokens])
    })
    return turns
  }
}

describe('loss mask from the episode runner to the trainer', () => {
  it('positions with loss mask 1 predict exactly the sampled tokens, the others the inserted ones', async () => {
    const tokenizer = await qwen3Tokenizer()
    const questions = ['Who wrote Dune?', 'What is 17 * 23?']
    const policy = new RecordingPolicy(new ScriptedPolicy(tokenizer, {
      [questions[0]]: [callTurn('Who is the author of the novel Dune?'), answerTurn('Frank Herbert')],
      [questions[1]]: [callTurn('Compute 17 * 23.'), callTurn('Check 17 * 23 again.'), answerTurn('391')],
    }))
    const environment = { complete: async () => ({ content: 'The answer is in the text above.', usage: { promptTokens: 5, completionTokens: 7 } }) }
    const { trajectories } = await runEpisodes({
      policy, environment, tokenizer, userContents: questions.map(userContentForQuestion), options: TRAINING_OPTIONS,
    })
    const batch = packBatch(trajectories, tokenizer.padId)
    const targets = perSequence(batch, batch.targets)
    const masks = perSequence(batch, batch.lossMask)
    trajectories.forEach((t, k) => {
      const sampled = policy.sampled.get(t.tokens.slice(0, t.promptLength).join(','))!
      expect(sampled.length).toBeGreaterThan(0)
      const trained = targets[k].filter((_, i) => masks[k][i] === 1)
      expect(trained).toEqual(sampled)
      // the response's other positions predict the tokens the runner inserted (the feedback around the environment's answer)
      const response = t.tokens.slice(t.promptLength)
      const inserted = response.filter((_, i) => t.lossMask[i] === 0)
      expect(inserted.length).toBeGreaterThan(0)
      expect(targets[k].slice(t.promptLength - 1).filter((_, i) => masks[k][t.promptLength - 1 + i] === 0)).toEqual(inserted)
      // the check has teeth: the same mask one position later would train on other tokens
      const shifted = targets[k].filter((_, i) => masks[k][i - 1] === 1)
      expect(shifted).not.toEqual(sampled)
    })
  })
})
