// What the edge needs from whoever runs agents (the in-process worker under Node; nothing in a
// Cloudflare Worker yet). Types only: the edge never imports the model engine.
import type { TokenUsage } from './protocol/environment.ts'
import type { TurnRecord } from './protocol/episode.ts'
import type { ProtocolName } from './protocol/options.ts'

export interface AgentModel { id: string; created: number; ownedBy: string }

export interface EnvironmentEndpoint { baseURL: string; model: string; apiKey: string }

// A step of an episode as it happens, for streaming.
export type AgentEvent =
  | { type: 'agent_turn'; turn: number; think: string; prompt: string | null; answer: string | null; error: string | null }
  | { type: 'environment_answer'; turn: number; content: string | null; error: string | null; latencyMs: number; usage: TokenUsage | null }

export interface AgentRun {
  answer: string
  endReason: string
  turns: TurnRecord[]
  usage: { agent: TokenUsage; environment: TokenUsage }
  timings: { totalMs: number; environmentMs: number }
}

export interface AgentRequest {
  projectId: string
  model: string
  question: string
  environment: EnvironmentEndpoint
  protocol: ProtocolName
  // unset: the protocol's; maxTokensPerTurn: at most the protocol's new tokens per agent turn
  sampling: { temperature?: number; topP?: number; seed?: number; maxTokensPerTurn?: number }
  signal: AbortSignal
  onEvent(event: AgentEvent): void
}

export interface AgentService {
  // the default agent and the project's merged checkpoints
  models(projectId: string): Promise<AgentModel[]>
  // whether `model` names an agent this project can use (loading it if need be)
  hasModel(projectId: string, model: string): Promise<boolean>
  run(request: AgentRequest): Promise<AgentRun>
}
