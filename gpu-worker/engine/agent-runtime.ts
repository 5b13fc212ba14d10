// A checkpoint ready to act as an agent: its engine, the generator that batches the engine's rows
// (with the worker's cache budget) and the chat tokenizer of the same folder. Serving, evaluation
// and GRPO's rollouts all get theirs here, so an engine setting means the same thing in each.
import type { EngineSettings } from '../../shared/config.ts'
import { ChatTokenizer } from '../../shared/protocol/tokenizer.ts'
import type { ModelSource } from './checkpoint.ts'
import { Generator } from './generate.ts'
import { Engine } from './session.ts'

export interface AgentRuntime {
  engine: Engine
  generator: Generator
  tokenizer: ChatTokenizer
}

/** Loads the checkpoint a model source names (fetched into `cacheDir` when it is remote). */
export async function loadAgentRuntime(source: ModelSource, settings: EngineSettings, options: { cacheDir?: string; maxBatch?: number } = {}): Promise<AgentRuntime> {
  const engine = await Engine.load(source, { ...settings, cacheDir: options.cacheDir })
  try {
    return agentRuntimeOn(engine, await ChatTokenizer.fromFolder(engine.checkpoint.dir), settings, options.maxBatch)
  } catch (error) {
    await engine.dispose()
    throw error
  }
}

/** An engine built elsewhere (GRPO's, on the weights the optimizer updates) as an agent. */
export function agentRuntimeOn(engine: Engine, tokenizer: ChatTokenizer, settings: Pick<EngineSettings, 'maxCacheBytes'>, maxBatch?: number): AgentRuntime {
  return { engine, generator: new Generator(engine, { maxBatch, maxCacheBytes: settings.maxCacheBytes }), tokenizer }
}
