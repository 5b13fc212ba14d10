// Serving agents: a checkpoint (the configured default, or a project's merged checkpoint) drives
// an environment LLM for one question, streaming each step. Engines are loaded once per model and
// shared: concurrent requests join the same continuous-batching generator.
import { dirname } from 'node:path'
import type { AgentEvent, AgentModel, AgentRequest, AgentRun } from '../shared/agents.ts'
import type { ServedAgents } from './inference-server.ts'
import { checkResolvedHost } from '../shared/outbound-fetch.ts'
import type { BlobStore } from '../shared/blob/store.ts'
import type { Config, EngineSettings } from '../shared/config.ts'
import { checkpointModels, servableCheckpoint } from '../shared/db/checkpoints.ts'
import type { Database } from '../shared/db/database.ts'
import {
  ChatTokenizer, type Environment, OpenAIEnvironment, type Policy, PROTOCOLS, type ProtocolOptions,
  runEpisodes, userContentForQuestion,
} from '../shared/protocol/index.ts'
import { builtinEnvironment } from '../shared/protocol/builtin-environment.ts'
import { type AgentRuntime, loadAgentRuntime } from './engine/agent-runtime.ts'
import type { ModelSource } from './engine/checkpoint.ts'
import { EnginePolicy } from './engine/policy.ts'

export interface ServedModel { name: string; source: string }


// One question, one episode: the protocol's runner with the request's protocol, its steps turned
// into AgentEvents as they happen.
export async function answerQuestion(input: {
  policy: Policy; tokenizer: ChatTokenizer; environment: Environment; question: string
  options: ProtocolOptions; signal: AbortSignal; onEvent: (event: AgentEvent) => void
}): Promise<AgentRun> {
  const started = performance.now()
  let turnNumber = 0
  const { trajectories } = await runEpisodes({
    policy: input.policy, environment: input.environment, tokenizer: input.tokenizer,
    userContents: [userContentForQuestion(input.question)], options: input.options, signal: input.signal,
    onAgentTurn: (_episode, turn) => {
      turnNumber += 1
      input.onEvent({ type: 'agent_turn', turn: turnNumber, think: turn.think, prompt: turn.prompt, answer: turn.answer, error: turn.error })
    },
    onTurn: (_episode, turn) => {
      if (turn.environmentLatencyMs === null) return
      input.onEvent({
        type: 'environment_answer', turn: turnNumber, content: turn.environmentAnswer,
        error: turn.environmentAnswer === null ? turn.error : null, latencyMs: Math.round(turn.environmentLatencyMs), usage: turn.environmentUsage,
      })
    },
  })
  const [trajectory] = trajectories
  const sampled = trajectory.turns.reduce((sum, turn) => sum + turn.sampledTokens, 0)
  return {
    answer: trajectory.answer,
    endReason: trajectory.endReason,
    turns: trajectory.turns,
    usage: { agent: { promptTokens: trajectory.promptLength, completionTokens: sampled }, environment: trajectory.environmentUsage },
    timings: {
      totalMs: Math.round(performance.now() - started),
      environmentMs: Math.round(trajectory.turns.reduce((sum, turn) => sum + (turn.environmentLatencyMs ?? 0), 0)),
    },
  }
}

/** A worker's served agents from its configuration: the configured agent by name, merged checkpoints by id. */
export function localAgentsFor(config: Config, db: Database, blobs: BlobStore): LocalAgents {
  return new LocalAgents({
    db, blobs, allowLoopbackEnvironment: config.allowLoopbackEnvironment, engine: config.engine,
    defaultModel: config.agent.source ? { name: config.agent.name, source: config.agent.source } : undefined,
  })
}

export class LocalAgents implements ServedAgents {
  private readonly loaded = new Map<string, Promise<AgentRuntime>>()
  private readonly startedAt = Math.floor(Date.now() / 1000)

  constructor(private readonly deps: {
    db: Database
    blobs: BlobStore
    // the agent served under its name to every project; undefined: only merged checkpoints
    defaultModel?: ServedModel
    engine: EngineSettings
    /** the engine's model and ONNX cache folder (default: $PROMPT_R1_CACHE or ~/.cache/prompt-r1) */
    cacheDir?: string
    allowLoopbackEnvironment: boolean
  }) {}

  /** The served agent, then the project's merged checkpoints, newest first. */
  async models(projectId: string): Promise<AgentModel[]> {
    const { defaultModel, db } = this.deps
    const served = defaultModel ? [{ id: defaultModel.name, created: this.startedAt, ownedBy: 'prompt-r1' }] : []
    return [...served, ...await checkpointModels(db, projectId)]
  }

  /** The agent served by name and the merged checkpoints loaded (or loading) now. */
  held(): string[] {
    const loaded = [...this.loaded.keys()].filter((key) => !key.startsWith('default:'))
    return [...(this.deps.defaultModel ? [this.deps.defaultModel.name] : []), ...loaded]
  }

  async hasModel(projectId: string, model: string): Promise<boolean> {
    return (await this.agentFor(projectId, model)) !== undefined
  }

  async run(request: AgentRequest): Promise<AgentRun> {
    const agent = await this.agentFor(request.projectId, request.model)
    if (!agent) throw new Error(`no agent '${request.model}': call hasModel first`)
    request.onAccepted?.()
    const outbound = { allowLoopback: this.deps.allowLoopbackEnvironment }
    let environment: Environment
    if ('builtin' in request.environment) environment = builtinEnvironment(request.environment.builtin)
    else {
      await checkResolvedHost(request.environment.baseURL, outbound)
      environment = new OpenAIEnvironment({ ...request.environment, policy: outbound, maxRetries: 2, timeoutMs: 120_000 })
    }
    const protocol = PROTOCOLS[request.protocol]
    const policy = new EnginePolicy(agent.generator, {
      temperature: request.sampling.temperature ?? protocol.sampling.temperature, topP: request.sampling.topP ?? protocol.sampling.topP,
      seed: request.sampling.seed, logprobs: 'sampling', signal: request.signal,
    })
    const perTurn = Math.min(protocol.options.maxNewTokensPerTurn, request.sampling.maxTokensPerTurn ?? Infinity)
    const options = { ...protocol.options, maxNewTokensPerTurn: perTurn }
    return answerQuestion({ policy, tokenizer: agent.tokenizer, environment, question: request.question, options, signal: request.signal, onEvent: request.onEvent })
  }

  // The default agent by name, or a merged checkpoint of the caller's project by id or fine-tuned
  // name (loaded once under its id, whichever name a chat uses).
  private async agentFor(projectId: string, model: string): Promise<AgentRuntime | undefined> {
    const { defaultModel, db, blobs } = this.deps
    if (defaultModel && model === defaultModel.name) return this.load(`default:${model}`, () => defaultModel.source)
    const checkpoint = await servableCheckpoint(db, projectId, model)
    if (!checkpoint) return undefined
    const merged = checkpoint.files.merged!
    return this.load(checkpoint.id, () => ({ store: blobs, prefix: dirname(merged[0].blobKey) }))
  }

  private load(key: string, source: () => ModelSource): Promise<AgentRuntime> {
    let agent = this.loaded.get(key)
    if (!agent) {
      agent = loadAgentRuntime(source(), this.deps.engine, { cacheDir: this.deps.cacheDir })
      // a failed load is not cached: the next request tries again
      agent.catch(() => this.loaded.delete(key))
      this.loaded.set(key, agent)
    }
    return agent
  }
}
