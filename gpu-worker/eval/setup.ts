// From an evaluation config to what the loop runs on: the datasets' rows, the environment client
// and the agent. The job runner and the CLI differ only in where uploaded files and the response
// cache live, which they pass in.
import { readDataset, type DatasetRow } from '../../datasets/read.ts'
import { loadNamedDataset } from '../../datasets/named.ts'
import type { BlobStore } from '../../shared/blob/store.ts'
import type { EngineSettings } from '../../shared/config.ts'
import { BlobResponseCache } from '../../shared/eval/store.ts'
import { sha256Hex } from '../../shared/ids.ts'
import { type EvaluationConfig, evalAgentSettings } from '../../shared/job-config.ts'
import { type OutboundPolicy, checkResolvedHost } from '../../shared/outbound-fetch.ts'
import { builtinEnvironment } from '../../shared/protocol/builtin-environment.ts'
import { type Environment, OpenAIEnvironment, type ResponseCache } from '../../shared/protocol/environment.ts'
import { describeDatasets } from '../../shared/eval/rows.ts'
import { loadAgentRuntime } from '../engine/agent-runtime.ts'
import type { ModelSource } from '../engine/checkpoint.ts'
import { EnginePolicy } from '../engine/policy.ts'
import type { EvalAgent, EvalDataset } from './run.ts'

export async function loadEvalDatasets(
  config: Pick<EvaluationConfig, 'datasets' | 'max_rows'>,
  readUploaded: (fileId: string) => Promise<DatasetRow[]>,
): Promise<EvalDataset[]> {
  const descriptors = describeDatasets(config)
  return Promise.all(config.datasets.map(async (spec, i) => {
    let rows: DatasetRow[]
    if (spec.file_id !== undefined) rows = await readUploaded(spec.file_id)
    else if (spec.path !== undefined) rows = await readRowsFromPath(spec.path)
    else rows = await loadNamedDataset(spec.name!)
    return { ...descriptors[i], rows: config.max_rows === undefined ? rows : rows.slice(0, config.max_rows) }
  }))
}

async function readRowsFromPath(path: string): Promise<DatasetRow[]> {
  const { rows, report } = await readDataset(path)
  if (report.problems.length > 0) {
    const first = report.problems[0]
    throw new Error(`${path}: ${report.problems.length} bad rows; row ${first.row}, ${first.field}: ${first.reason}`)
  }
  return rows
}

/** An endpoint's client (the built-in environments need none). */
export function makeEnvironment(config: EvaluationConfig['environment'], policy: OutboundPolicy, cache?: ResponseCache): Environment {
  if (config.builtin) return builtinEnvironment(config.builtin)
  const sampling = Object.fromEntries(Object.entries({
    temperature: config.temperature, top_p: config.top_p, max_tokens: config.max_tokens, seed: config.seed,
  }).filter(([, value]) => value !== undefined))
  return new OpenAIEnvironment({
    baseURL: config.base_url!,
    // OpenAI-compatible servers without auth still need some bearer value from the SDK
    apiKey: config.api_key ?? 'none',
    model: config.model!,
    policy,
    sampling,
    timeoutMs: config.timeout_ms,
    maxRetries: config.max_retries,
    concurrency: config.concurrency,
    cache: config.cache ? cache : undefined,
  })
}

/**
 * A job's environment: its host name's addresses checked (the edge checked the URL as written),
 * answers cached in the blob store per project and endpoint, since the same model name at another
 * endpoint is another model.
 */
export async function jobEnvironment(
  config: EvaluationConfig['environment'], projectId: string, blobs: BlobStore, policy: OutboundPolicy,
): Promise<Environment> {
  if (config.builtin) return makeEnvironment(config, policy)
  await checkResolvedHost(config.base_url!, policy)
  const scope = (await sha256Hex(`${projectId}\n${config.base_url}`)).slice(0, 32)
  return makeEnvironment(config, policy, new BlobResponseCache(blobs, `env-cache/${scope}`))
}

export interface LoadedAgent extends EvalAgent {
  dispose(): Promise<void>
}

export async function loadAgent(
  config: NonNullable<EvaluationConfig['agent']>, source: ModelSource,
  // signal: a cancelled job or an interrupted CLI stops generating at once, not after the turn
  options: { batchSize: number; engine: EngineSettings; cacheDir?: string; signal?: AbortSignal },
): Promise<LoadedAgent> {
  const { engine, generator, tokenizer } = await loadAgentRuntime(source, options.engine, { cacheDir: options.cacheDir, maxBatch: options.batchSize })
  const settings = evalAgentSettings(config)
  const policy = new EnginePolicy(generator, {
    temperature: settings.temperature, topP: settings.topP, topK: config.top_k, seed: config.seed, signal: options.signal,
  })
  return {
    policy, tokenizer, options: settings.options,
    dispose: () => engine.dispose(),
  }
}
