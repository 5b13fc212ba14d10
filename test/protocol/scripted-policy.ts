// A policy that replays written turns as tokens: the test writes what the agent says, the policy
// encodes it with the real tokenizer, appends <|im_end|> and returns it with made-up logprobs. It
// finds the episode by the question in the context and the turn by the feedback blocks already in
// it, so it also checks that the runner built the context the agent would see.
import type { Policy, PolicyTurn } from '../../shared/protocol/episode.ts'
import type { ChatTokenizer } from '../../shared/protocol/tokenizer.ts'

export const SCRIPTED_LOGPROB = -0.25

export class ScriptedPolicy implements Policy {
  /** Every batch of contexts it was asked to continue, decoded. */
  readonly batches: string[][] = []

  constructor(
    private readonly tokenizer: ChatTokenizer,
    /** Turn texts by question. A turn ending in "<|cut|>" is returned without a stop token. */
    private readonly scripts: Record<string, string[]>,
  ) {}

  async generate(contexts: { tokens: number[] }[], options: { maxNewTokens: number; stopTokenIds: number[] }): Promise<PolicyTurn[]> {
    const decoded = contexts.map((context) => this.tokenizer.decode(context.tokens))
    this.batches.push(decoded)
    return decoded.map((text) => {
      const question = /user\nQuestion: (.*?)\n/.exec(text)![1]
      const turn = text.split('\n<interaction_response>\n').length - 1
      const script = this.scripts[question][turn]
      if (script === undefined) throw new Error(`no turn ${turn} scripted for "${question}"`)
      const cut = script.endsWith('<|cut|>')
      const tokens = this.tokenizer.encode(cut ? script.slice(0, -'<|cut|>'.length) : script)
      if (!cut) tokens.push(options.stopTokenIds[0])
      const sampled = tokens.slice(0, options.maxNewTokens)
      return { tokens: sampled, logprobs: sampled.map(() => SCRIPTED_LOGPROB) }
    })
  }
}
