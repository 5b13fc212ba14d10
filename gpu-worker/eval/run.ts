// The evaluation loop, shared by the eval job runner and `prompt-r1 eval`: for each dataset, rows
// go in batches through every mode side by side (the environment alone, with a step-by-step
// instruction, and driven by the agent); each batch and mode is scored and stored before the next,
// so an interrupted run loses at most the batches in flight and a rerun skips every stored row.
import { setMaxListeners } from 'node:events'
import type { DatasetRow } from '../../datasets/read.ts'
import { type Environment, type TokenUsage, checkEnvironmentErrors, probeEnvironment } from '../../shared/protocol/environment.ts'
import { type Policy, type Trajectory, runEpisodes } from '../../shared/protocol/episode.ts'
import type { TextEmbedder } from '../../shared/protocol/metrics.ts'
import type { ProtocolOptions } from '../../shared/protocol/options.ts'
import type { ChatTokenizer } from '../../shared/protocol/tokenizer.ts'
import { type DatasetDescriptor, type EvalMode, type EvalRow, MODE_ORDER, rowKey, scoreRow } from '../../shared/eval/rows.ts'

export interface EvalDataset extends DatasetDescriptor {
  rows: DatasetRow[]
}

export interface EvalAgent {
  policy: Policy
  tokenizer: ChatTokenizer
  options: ProtocolOptions
}

export interface RowStore {
  load(): Promise<EvalRow[]>
  append(rows: EvalRow[]): Promise<void>
}

export interface EvalProgress {
  done: number
  total: number
  dataset: string
  mode: EvalMode
  /** the rows just stored */
  batch: EvalRow[]
}

export interface RunEvaluationInput {
  datasets: EvalDataset[]
  modes: EvalMode[]
  environment: Environment
  agent?: EvalAgent
  embedder: TextEmbedder
  store: RowStore
  batchSize: number
  /** The evaluation fails when more than this share of its rows' environment calls failed (it always does when all did). */
  environmentErrorLimit: number
  signal?: AbortSignal
  onProgress?: (progress: EvalProgress) => void | Promise<void>
}

// The baselines' prompts. The published code has no baseline script; these ask for the answer in
// the same <answer> tags the agent uses, so all three modes are scored on a comparable span.
export const DIRECT_INSTRUCTION = 'Answer the question. Put only the final answer inside <answer></answer>.'
export const COT_INSTRUCTION = "Let's think step by step, then put only the final answer inside <answer></answer>."

export function baselinePrompt(mode: 'direct' | 'cot', question: string): string {
  return `${question}\n\n${mode === 'direct' ? DIRECT_INSTRUCTION : COT_INSTRUCTION}`
}

/** The answer in a baseline's response: the first <answer> span, else the whole response. */
export function baselineAnswer(response: string): string {
  const tagged = /<answer>([\s\S]*?)<\/answer>/.exec(response)
  return (tagged ? tagged[1] : response).trim()
}

/** Runs what is not stored yet; returns every row of these datasets and modes, stored before or now. */
export async function runEvaluation(input: RunEvaluationInput): Promise<EvalRow[]> {
  const { datasets, environment, store, batchSize, signal } = input
  const modes = MODE_ORDER.filter((m) => input.modes.includes(m))
  if (modes.includes('agent') && !input.agent) throw new Error("the 'agent' mode needs an agent")
  // every environment call in flight listens to the signal: a batch's calls are not a leak
  if (signal) setMaxListeners(0, signal)
  const rows = await store.load()
  const done = new Set(rows.map(rowKey))
  const total = datasets.reduce((sum, d) => sum + d.rows.length, 0) * modes.length
  // rows stored by an earlier run with other datasets, modes or max_rows are not this run's
  const inScope = (r: EvalRow) => modes.includes(r.mode) && datasets.some((d) => d.label === r.dataset && r.row < d.rows.length)
  let count = rows.filter(inScope).length
  let probed = false

  for (const dataset of datasets) {
    for (let start = 0; start < dataset.rows.length; start += batchSize) {
      const batch = dataset.rows.slice(start, start + batchSize).map((row, i) => ({ row, position: start + i }))
      for (const mode of modes) {
        const todo = batch.filter(({ position }) => !done.has(rowKey({ dataset: dataset.label, mode, row: position })))
        if (todo.length === 0) continue
        signal?.throwIfAborted()
        if (!probed) await probeEnvironment(environment, signal)
        probed = true
        const scored = mode === 'agent'
          ? await runAgent(dataset, todo, input.agent!, environment, input.embedder, signal)
          : await Promise.all(todo.map(({ row, position }) => runBaseline(dataset, mode, row, position, environment, input.embedder, signal)))
        // an abort while the batch ran leaves it unstored: its rows are redone on resume
        signal?.throwIfAborted()
        await store.append(scored)
        for (const row of scored) done.add(rowKey(row))
        rows.push(...scored)
        count += scored.length
        await input.onProgress?.({ done: count, total, dataset: dataset.label, mode, batch: scored })
      }
    }
  }
  const scored = rows.filter(inScope)
  const calling = scored.filter((r) => r.environment_calls > 0)
  const failed = calling.filter((r) => r.error !== null)
  checkEnvironmentErrors('rows that called the environment', calling.length, failed.length, input.environmentErrorLimit, failed[0]?.error ?? null)
  return scored
}

async function runBaseline(
  dataset: EvalDataset, mode: 'direct' | 'cot', row: DatasetRow, position: number,
  environment: Environment, embedder: TextEmbedder, signal?: AbortSignal,
): Promise<EvalRow> {
  const started = performance.now()
  let response: string | null = null
  let usage: TokenUsage = { promptTokens: 0, completionTokens: 0 }
  let error: string | null = null
  try {
    const answer = await environment.complete([{ role: 'user', content: baselinePrompt(mode, row.question) }], signal)
    response = answer.content
    usage = answer.usage
  } catch (failure) {
    signal?.throwIfAborted()
    // a failure after the retries is this row's answer: wrong, and reported with it
    error = failure instanceof Error ? failure.message : String(failure)
  }
  const latency = performance.now() - started
  const prediction = response === null ? '' : baselineAnswer(response)
  return {
    dataset: dataset.label, row: position, mode, question: row.question, golds: row.golds, prediction,
    scores: await scoreRow(prediction, row.golds, dataset.kind, embedder),
    environment_prompt_tokens: usage.promptTokens, environment_completion_tokens: usage.completionTokens,
    agent_tokens: 0, turns: 1, environment_calls: 1, latency_ms: latency, error, end_reason: null, response, trajectory: null,
    similarity_embedder: similarityEmbedderOf(dataset, embedder),
  }
}

async function runAgent(
  dataset: EvalDataset, todo: { row: DatasetRow; position: number }[], agent: EvalAgent,
  environment: Environment, embedder: TextEmbedder, signal?: AbortSignal,
): Promise<EvalRow[]> {
  const started = performance.now()
  // the batch runs together, so a row's latency is from the batch's start to its episode's end
  const finished = todo.map(() => started)
  const { trajectories } = await runEpisodes({
    policy: agent.policy, environment, tokenizer: agent.tokenizer, options: agent.options, signal,
    userContents: todo.map(({ row }) => row.content),
    onTurn: (index) => { finished[index] = performance.now() },
  })
  return Promise.all(trajectories.map(async (t: Trajectory, i) => {
    const { row, position } = todo[i]
    const calls = t.turns.filter((turn) => turn.kind === 'call' && turn.prompt !== null)
    return {
      dataset: dataset.label, row: position, mode: 'agent' as const, question: row.question, golds: row.golds, prediction: t.answer,
      scores: await scoreRow(t.answer, row.golds, dataset.kind, embedder),
      environment_prompt_tokens: t.environmentUsage.promptTokens,
      environment_completion_tokens: t.environmentUsage.completionTokens,
      agent_tokens: t.turns.reduce((sum, turn) => sum + turn.sampledTokens, 0),
      turns: t.turns.length,
      environment_calls: calls.length,
      latency_ms: finished[i] - started,
      error: calls.find((turn) => turn.error !== null)?.error ?? null,
      end_reason: t.endReason,
      response: null,
      trajectory: t.turns.map((turn) => ({
        kind: turn.kind, text: turn.text, think: turn.think, prompt: turn.prompt, environment_answer: turn.environmentAnswer, answer: turn.answer, error: turn.error,
      })),
      similarity_embedder: similarityEmbedderOf(dataset, embedder),
    }
  }))
}

const similarityEmbedderOf = (dataset: EvalDataset, embedder: TextEmbedder) => (dataset.kind === 'long-form' ? embedder.name : null)
