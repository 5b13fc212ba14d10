// What the edge needs from whoever runs agents (npm start's model thread, or GPU workers over their
// inference endpoint), and that endpoint's wire format. Types only: the edge never imports the engine.
import type { BuiltinEnvironmentName } from './protocol/builtin-environment.ts'
import type { TokenUsage } from './protocol/environment.ts'
import type { TurnRecord } from './protocol/episode.ts'
import type { ProtocolName } from './protocol/options.ts'

export interface AgentModel { id: string; created: number; ownedBy: string }

// An OpenAI-compatible endpoint, or a built-in environment by name (shared/protocol/builtin-environment.ts)
export type EnvironmentEndpoint = { baseURL: string; model: string; apiKey: string } | { builtin: BuiltinEnvironmentName }

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
  // every service calls it once it has taken the run on: the chat stream opens then (a refusal
  // before it, such as every worker being busy, is still the request's HTTP status)
  onAccepted?(): void
}

export interface AgentService {
  // the default agent and the project's merged checkpoints
  models(projectId: string): Promise<AgentModel[]>
  // whether `model` names an agent this project can use (loading it if need be)
  hasModel(projectId: string, model: string): Promise<boolean>
  run(request: AgentRequest): Promise<AgentRun>
}

// ---- the worker's inference endpoint (gpu-worker/inference-server.ts serves it, the edge's
// RemoteAgents calls it): authenticated by the shared worker token; TLS or a private network is
// the deployment's (docs/deploy.md).

/** POST: one AgentRunBody as JSON; the answer streams as NDJSON, one AgentRunLine per line. */
export const AGENT_RUN_PATH = '/internal/v1/agent-runs'
export const WORKER_HEALTH_PATH = '/internal/v1/health'

export type AgentRunBody = Omit<AgentRequest, 'signal' | 'onEvent' | 'onAccepted'>

export type AgentRunLine =
  | { event: AgentEvent }
  | { run: AgentRun }
  | { error: { status: number; code: string; message: string; param: string | null } }

/** A worker's inference endpoint as it registers it in the `workers` table. */
export interface InferenceAdvert { address: string; models: string[]; slots: number; freeSlots: number; provider: string }
