// Demonstration trajectories for the supervised warm-start. Written turns are played through the
// protocol's episode runner against the real environment, so a demonstration's tokens, inserted
// environment feedback and loss masks are laid out exactly as in the rollouts GRPO later trains on.
import type { Environment } from '../../shared/protocol/environment.ts'
import { type Policy, type Trajectory, runEpisodes } from '../../shared/protocol/episode.ts'
import type { ProtocolOptions } from '../../shared/protocol/options.ts'
import type { ChatTokenizer } from '../../shared/protocol/tokenizer.ts'

/** The agent's next turn (without the stop token) given the whole context so far, decoded. */
export type TurnWriter = (context: string) => string

/** A Policy that writes each turn with `write` and ends it with <|im_end|>. */
export class WrittenPolicy implements Policy {
  constructor(private readonly tokenizer: ChatTokenizer, private readonly write: TurnWriter) {}

  async generate(contexts: { tokens: number[] }[], options: { maxNewTokens: number; stopTokenIds: number[] }) {
    return contexts.map(({ tokens }) => {
      const turn = [...this.tokenizer.encode(this.write(this.tokenizer.decode(tokens))), this.tokenizer.imEndId].slice(0, options.maxNewTokens)
      return { tokens: turn, logprobs: turn.map(() => 0) }
    })
  }
}

/** Plays one written episode per user content; the trajectories are the demonstrations. */
export async function recordDemonstrations(input: {
  tokenizer: ChatTokenizer
  environment: Environment
  userContents: string[]
  write: TurnWriter
  options: ProtocolOptions
}): Promise<Trajectory[]> {
  const { trajectories } = await runEpisodes({ ...input, policy: new WrittenPolicy(input.tokenizer, input.write) })
  return trajectories
}
