// The episode runner: many Prompt-R1 episodes at once, token-in/token-out. Each round, every active
// episode's context goes to the policy in one batch; the tool calls of that round then go to the
// environment concurrently (its client caps how many are in flight). A context only ever grows by
// appending: sampled tokens (loss mask 1) and the encoded feedback text (loss mask 0); it is never
// decoded and re-encoded during the rollout.
import { environmentMessages, type ChatMessage, type Environment, type TokenUsage } from './environment.ts'
import { cutToolContent, feedbackText, toolContentForAnswer } from './feedback.ts'
import type { ProtocolOptions } from './options.ts'
import { inferenceScriptTurnText, parseAgentTurn } from './parse.ts'
import { firstTurnText, ONE_MESSAGE_END, oneMessageFirstTurnText } from './template.ts'
import type { ChatTokenizer } from './tokenizer.ts'

/**
 * The agent model, token-in/token-out. For each context, sample one turn: at most maxNewTokens
 * tokens, ending early after the first stop token, which is then the last token returned. Returns
 * the sampled ids with the log-probability of each under the sampling distribution, in the order of
 * the contexts. Sampling settings (temperature, greedy) belong to the implementation.
 */
export interface Policy {
  generate(contexts: { tokens: number[] }[], options: { maxNewTokens: number; stopTokenIds: number[] }): Promise<PolicyTurn[]>
}

export interface PolicyTurn {
  tokens: number[]
  logprobs: number[]
}

export type EndReason = 'answer' | 'turn-limit' | 'context-limit' | 'response-limit'

export interface TurnRecord {
  /** The turn's sampled text, special tokens removed (what the parser reads). */
  text: string
  /** Its reasoning: the text before </think>. */
  think: string
  sampledTokens: number
  kind: 'answer' | 'call' | 'invalid-call'
  /** The final answer, for an answer turn. */
  answer: string | null
  /** The prompt sent to the environment, for a valid call. */
  prompt: string | null
  /** The environment's answer, when the call succeeded. */
  environmentAnswer: string | null
  /** The tool-call error or the environment's error text. */
  error: string | null
  /** What was inserted between <interaction_response> tags, after the length cut. */
  toolContent: string | null
  environmentUsage: TokenUsage | null
  environmentLatencyMs: number | null
}

export interface Trajectory {
  /** Position of the episode in the input list. */
  index: number
  /** Prompt then response token ids: the whole context. */
  tokens: number[]
  promptLength: number
  /** One per response token: 1 sampled by the agent, 0 inserted for the environment or a sampled
   * pad token (the published trainer masks every pad id, sampled or not). */
  lossMask: number[]
  /** One per response token: the sampled token's log-probability, 0 for inserted tokens. */
  logprobs: number[]
  /** Index in `tokens` of the token that carries the reward: the last one that is not a pad token
   * (the published reward manager's last valid position). When it is an inserted token (an episode
   * cut by the turn limit), training gives the episode nothing. */
  rewardIndex: number
  /** The decoded context with special tokens: what the reward reads and what is displayed. */
  text: string
  answer: string
  endReason: EndReason
  turns: TurnRecord[]
  environmentUsage: TokenUsage
  /** Whether encoding `text` again gives `tokens` back; false means the tokens a trainer sees differ
   * from what a tokenizer would produce (reported, never silently fixed). */
  retokenizationMatches: boolean
}

export interface EpisodeMetrics {
  episodes: number
  meanTurns: number
  meanResponseTokens: number
  endReasons: Record<EndReason, number>
  environmentCalls: number
  environmentErrors: number
  toolCallErrors: number
  environmentPromptTokens: number
  environmentCompletionTokens: number
  retokenizationDriftEpisodes: number
}

export interface RunEpisodesInput {
  policy: Policy
  environment: Environment
  tokenizer: ChatTokenizer
  /** The agent's first user message per episode (a dataset row's content, or userContentForQuestion). */
  userContents: string[]
  options: ProtocolOptions
  /** Called when the agent's turn is sampled and parsed, before its environment call, for streaming. */
  onAgentTurn?: (episodeIndex: number, turn: TurnRecord) => void
  /** Called as each turn completes (after its environment call), for streaming. */
  onTurn?: (episodeIndex: number, turn: TurnRecord) => void
  /** Called before each round of turns and once all have ended: how many episodes have ended, of all. */
  onRound?: (ended: number, total: number) => void
  signal?: AbortSignal
}

interface EpisodeState {
  index: number
  tokens: number[]
  promptLength: number
  lossMask: number[]
  logprobs: number[]
  turns: TurnRecord[]
  history: ChatMessage[]
  endReason: EndReason | null
}

export async function runEpisodes(input: RunEpisodesInput): Promise<{ trajectories: Trajectory[]; metrics: EpisodeMetrics }> {
  const { policy, tokenizer, userContents, options } = input
  const oneMessage = options.layout === 'one-user-message'
  // the one user message's end, seen by the agent after the context but never kept in it
  const messageEnd = oneMessage ? tokenizer.encode(ONE_MESSAGE_END) : []
  const episodes: EpisodeState[] = userContents.map((content, index) => {
    const tokens = tokenizer.encode(oneMessage ? oneMessageFirstTurnText(content) : firstTurnText(content))
    return { index, tokens, promptLength: tokens.length, lossMask: [], logprobs: [], turns: [], history: [], endReason: null }
  })

  for (;;) {
    for (const episode of episodes) {
      if (episode.endReason) continue
      if (episode.turns.length >= options.maxTurns) episode.endReason = 'turn-limit'
      else if (episode.tokens.length > options.maxContextTokens) episode.endReason = 'context-limit'
      else if (episode.lossMask.length >= options.maxResponseTokens) episode.endReason = 'response-limit'
    }
    const active = episodes.filter((episode) => !episode.endReason)
    input.onRound?.(episodes.length - active.length, episodes.length)
    if (active.length === 0) break
    input.signal?.throwIfAborted()
    const sampled = await policy.generate(
      active.map((episode) => ({ tokens: oneMessage ? [...episode.tokens, ...messageEnd] : episode.tokens })),
      { maxNewTokens: options.maxNewTokensPerTurn, stopTokenIds: tokenizer.stopTokenIds },
    )
    await Promise.all(active.map((episode, i) => playTurn(episode, sampled[i], input)))
  }

  const trajectories = episodes.map((episode) => trajectory(episode, tokenizer))
  return { trajectories, metrics: episodeMetrics(trajectories) }
}

/** Appends one sampled turn, and for a tool call the environment's feedback. */
async function playTurn(episode: EpisodeState, sampled: PolicyTurn, input: RunEpisodesInput): Promise<void> {
  const { tokenizer, options } = input
  const budget = options.maxResponseTokens - episode.lossMask.length
  const turnTokens = sampled.tokens.slice(0, budget)
  let text: string
  if (options.layout === 'one-user-message') {
    text = appendScriptTurn(episode, turnTokens, sampled.logprobs, tokenizer)
  } else {
    append(episode, turnTokens, 1, sampled.logprobs, tokenizer.padId)
    text = tokenizer.decode(turnTokens, { skipSpecialTokens: true })
  }
  const parsed = parseAgentTurn(text, options)
  const record: TurnRecord = {
    text, think: parsed.think, sampledTokens: turnTokens.length, kind: parsed.kind,
    answer: null, prompt: null, environmentAnswer: null, error: null, toolContent: null, environmentUsage: null, environmentLatencyMs: null,
  }
  episode.turns.push(record)

  // a turn cut by the response limit ends the episode: nothing more fits, not even a tool's answer
  const cut = turnTokens.length < sampled.tokens.length
  if (parsed.kind === 'answer') record.answer = parsed.answer
  else if (!cut && parsed.kind === 'call') record.prompt = parsed.prompt
  else if (!cut && parsed.kind === 'invalid-call') record.error = parsed.error
  input.onAgentTurn?.(episode.index, record)
  if (cut) {
    episode.endReason = 'response-limit'
  } else if (parsed.kind === 'answer') {
    episode.endReason = 'answer'
  } else {
    const content = parsed.kind === 'invalid-call' ? parsed.error : await callEnvironment(episode, parsed.prompt, record, input)
    record.toolContent = cutToolContent(content, options.maxToolResponseLength)
    const endsWithImEnd = episode.tokens.at(-1) === tokenizer.imEndId
    const feedback = tokenizer.encode(feedbackText(record.toolContent, options.doubledImEnd || !endsWithImEnd))
    const room = options.maxResponseTokens - episode.lossMask.length
    append(episode, feedback.slice(0, room), 0)
    if (feedback.length > room) episode.endReason = 'response-limit'
  }
  input.onTurn?.(episode.index, record)
}

/** The tool content for a valid call: the answer as JSON, or the error text itself (as published). */
async function callEnvironment(episode: EpisodeState, prompt: string, record: TurnRecord, input: RunEpisodesInput): Promise<string> {
  const started = performance.now()
  try {
    const answer = await input.environment.complete(environmentMessages(episode.history, prompt), input.signal)
    record.environmentAnswer = answer.content
    record.environmentUsage = answer.usage
    episode.history.push({ role: 'user', content: prompt }, { role: 'assistant', content: answer.content })
    return toolContentForAnswer(answer.content)
  } catch (error) {
    input.signal?.throwIfAborted()
    record.error = error instanceof Error ? error.message : String(error)
    // The published history keeps the prompt with an empty answer after a failed call.
    episode.history.push({ role: 'user', content: prompt }, { role: 'assistant', content: '' })
    return record.error
  } finally {
    record.environmentLatencyMs = performance.now() - started
  }
}

/**
 * A turn of the 'one-user-message' layout, appended as the published inference scripts append it:
 * the text vLLM returns (stop token dropped, special tokens skipped) rewritten by
 * inferenceScriptTurnText, then <|im_end|>. Where the rewrite only cuts the text, the sampled tokens
 * that spell what is kept stay (a token that crosses the cut is encoded again); a rewritten body is
 * this turn's text encoded again, as vLLM reads it. Tokens the agent did not sample get mask 0.
 * Returns the rewritten text.
 */
function appendScriptTurn(episode: EpisodeState, tokens: number[], logprobs: number[], tokenizer: ChatTokenizer): string {
  const sampled = tokenizer.stopTokenIds.includes(tokens.at(-1)!) ? tokens.slice(0, -1) : tokens
  const text = tokenizer.decode(sampled, { skipSpecialTokens: true })
  const processed = inferenceScriptTurnText(text)
  const kept = processed === text ? sampled.length : text.startsWith(processed) ? sampledPrefix(sampled, processed, tokenizer) : 0
  const keptText = tokenizer.decode(sampled.slice(0, kept), { skipSpecialTokens: true })
  append(episode, sampled.slice(0, kept), 1, logprobs, tokenizer.padId)
  append(episode, tokenizer.encode(processed.slice(keptText.length)), 0)
  append(episode, [tokenizer.imEndId], 0)
  return processed
}

/** How many of the first sampled tokens spell a start of `prefix` (their text is a prefix of it): all
 * but a last token that crosses its end. */
function sampledPrefix(tokens: number[], prefix: string, tokenizer: ChatTokenizer): number {
  const textOf = (count: number) => tokenizer.decode(tokens.slice(0, count), { skipSpecialTokens: true })
  let low = 0
  let high = tokens.length
  while (low < high) {
    const mid = (low + high) >> 1
    if (textOf(mid).length >= prefix.length) high = mid
    else low = mid + 1
  }
  for (let count = low; count > 0; count--) if (prefix.startsWith(textOf(count))) return count
  return 0
}

/** Sampled tokens come with their logprobs (mask 1, but 0 for a pad); inserted tokens get logprob 0 (mask 0). */
function append(episode: EpisodeState, tokens: number[], mask: 0 | 1, logprobs?: number[], padId?: number): void {
  for (let i = 0; i < tokens.length; i++) {
    episode.tokens.push(tokens[i])
    episode.logprobs.push(logprobs?.[i] ?? 0)
    episode.lossMask.push(tokens[i] === padId ? 0 : mask)
  }
}

function trajectory(episode: EpisodeState, tokenizer: ChatTokenizer): Trajectory {
  const text = tokenizer.decode(episode.tokens)
  const reencoded = tokenizer.encode(text)
  let rewardIndex = episode.tokens.length - 1
  while (rewardIndex > episode.promptLength && episode.tokens[rewardIndex] === tokenizer.padId) rewardIndex--
  const last = episode.turns.at(-1)
  const environmentUsage = { promptTokens: 0, completionTokens: 0 }
  for (const turn of episode.turns) {
    environmentUsage.promptTokens += turn.environmentUsage?.promptTokens ?? 0
    environmentUsage.completionTokens += turn.environmentUsage?.completionTokens ?? 0
  }
  return {
    index: episode.index,
    tokens: episode.tokens,
    promptLength: episode.promptLength,
    lossMask: episode.lossMask,
    logprobs: episode.logprobs,
    rewardIndex,
    text,
    answer: last?.answer ?? '',
    endReason: episode.endReason!,
    turns: episode.turns,
    environmentUsage,
    retokenizationMatches: reencoded.length === episode.tokens.length && reencoded.every((id, i) => id === episode.tokens[i]),
  }
}

export function episodeMetrics(trajectories: Trajectory[]): EpisodeMetrics {
  const endReasons: Record<EndReason, number> = { answer: 0, 'turn-limit': 0, 'context-limit': 0, 'response-limit': 0 }
  const turns = trajectories.flatMap((t) => t.turns)
  const calls = turns.filter((turn) => turn.kind === 'call')
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0)
  for (const t of trajectories) endReasons[t.endReason]++
  const episodes = trajectories.length
  return {
    episodes,
    meanTurns: episodes && turns.length / episodes,
    meanResponseTokens: episodes && sum(trajectories.map((t) => t.lossMask.length)) / episodes,
    endReasons,
    environmentCalls: calls.length,
    environmentErrors: calls.filter((turn) => turn.error !== null).length,
    toolCallErrors: turns.filter((turn) => turn.kind === 'invalid-call').length,
    environmentPromptTokens: sum(trajectories.map((t) => t.environmentUsage.promptTokens)),
    environmentCompletionTokens: sum(trajectories.map((t) => t.environmentUsage.completionTokens)),
    retokenizationDriftEpisodes: trajectories.filter((t) => !t.retokenizationMatches).length,
  }
}
