// What a training step's episodes look like when stored for the trajectory viewer: one record per
// episode with its question, the turns as the protocol's TurnRecord gives them (in the API's
// snake_case), the reward and its parts and the group-relative advantage. The train runner writes a
// step's records as one JSONL file (shared/job-config.ts trajectoryKey); the API serves them as they are.
import type { DatasetRow } from '../../datasets/read.ts'
import type { Trajectory, TurnRecord } from '../../shared/protocol/episode.ts'
import type { RewardParts } from '../../shared/protocol/reward.ts'

export interface StoredTrainingTurn {
  kind: TurnRecord['kind']
  /** The turn's sampled text, special tokens removed. */
  text: string
  think: string
  sampled_tokens: number
  answer: string | null
  prompt: string | null
  environment_answer: string | null
  error: string | null
  /** What was inserted between <interaction_response> tags, after the length cut. */
  tool_content: string | null
  environment_usage: { prompt_tokens: number; completion_tokens: number } | null
  environment_latency_ms: number | null
}

export interface TrainingEpisode {
  step: number
  /** Position of the episode in the step, from 0; episodes of one prompt are consecutive. */
  index: number
  /** Which of the step's prompts (the GRPO group), from 0. */
  group: number
  data_source: string
  /** The row's position in the training file. */
  row: number
  question: string
  golds: string[]
  answer: string
  /** The reward the update used, and the dual-constrained reward's parts. */
  reward: number
  format_score: number
  answer_f1: number
  advantage: number
  end_reason: string
  environment_calls: number
  environment_prompt_tokens: number
  environment_completion_tokens: number
  turns: StoredTrainingTurn[]
}

export interface ScoredEpisode {
  row: DatasetRow
  trajectory: Trajectory
  reward: number
  parts: RewardParts
  advantage: number
}

/** The records of step `step`'s episodes, `groupSize` consecutive episodes per prompt. */
export function episodeRecords(step: number, groupSize: number, episodes: ScoredEpisode[]): TrainingEpisode[] {
  return episodes.map(({ row, trajectory: t, reward, parts, advantage }, index) => ({
    step, index, group: Math.floor(index / groupSize), data_source: row.dataSource, row: row.index,
    question: row.question, golds: row.golds, answer: t.answer,
    reward, format_score: parts.format, answer_f1: parts.answerF1, advantage, end_reason: t.endReason,
    environment_calls: t.turns.filter((turn) => turn.kind === 'call' && turn.prompt !== null).length,
    environment_prompt_tokens: t.environmentUsage.promptTokens,
    environment_completion_tokens: t.environmentUsage.completionTokens,
    turns: t.turns.map((turn) => ({
      kind: turn.kind, text: turn.text, think: turn.think, sampled_tokens: turn.sampledTokens, answer: turn.answer,
      prompt: turn.prompt, environment_answer: turn.environmentAnswer, error: turn.error, tool_content: turn.toolContent,
      environment_usage: turn.environmentUsage && { prompt_tokens: turn.environmentUsage.promptTokens, completion_tokens: turn.environmentUsage.completionTokens },
      environment_latency_ms: turn.environmentLatencyMs,
    })),
  }))
}
