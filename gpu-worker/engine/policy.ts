// The engine as the protocol's Policy (token-in/token-out): each context is one sequence of the
// continuous-batching generator. Sampling settings belong to the policy (training: temperature 1,
// top-p 1; validation: greedy, temperature 0).
import type { Policy, PolicyTurn } from '../../shared/protocol/episode.ts'
import type { Generator } from './generate.ts'
import { type SamplingOptions, seededRandom } from './sampling.ts'

export interface EnginePolicyOptions extends SamplingOptions {
  /** Seeds the per-sequence seeds, handed out in call and context order: a seeded rollout repeats. */
  seed?: number
  /** Aborting stops every sequence of this policy after its current step (a served client went away). */
  signal?: AbortSignal
}

export class EnginePolicy implements Policy {
  private readonly seeds: (() => number) | null
  constructor(readonly generator: Generator, readonly options: EnginePolicyOptions = {}) {
    const random = options.seed === undefined ? null : seededRandom(options.seed)
    this.seeds = random && (() => Math.floor(random() * 2 ** 32))
  }

  generate(contexts: { tokens: number[] }[], options: { maxNewTokens: number; stopTokenIds: number[] }): Promise<PolicyTurn[]> {
    const { seed: _, ...sampling } = this.options
    return Promise.all(
      contexts.map(async (context) => {
        const { tokens, logprobs } = await this.generator.generate({
          // The Policy contract: logprobs under the distribution sampled from.
          logprobs: 'sampling',
          ...sampling,
          promptIds: context.tokens,
          maxNewTokens: options.maxNewTokens,
          stopTokenIds: options.stopTokenIds,
          seed: this.seeds?.(),
        })
        return { tokens, logprobs }
      }),
    )
  }
}
