// One scored row of an evaluation: what a mode answered for a dataset row, its scores and its
// costs. Rows are what the blob store keeps (JSONL), what resume reads back and what the summary,
// the CSV and the table are computed from.
import { namedDataset } from '../../datasets/named.ts'
import type { TaskKind } from '../../datasets/registry.ts'
import type { EvaluationConfig } from '../job-config.ts'
import { HASHED_EMBEDDER_NAME, exactMatch, f1Score, mathEqual, semanticSimilarity, substringMatch, type TextEmbedder } from '../protocol/metrics.ts'

export type EvalMode = 'direct' | 'cot' | 'agent'
export const MODE_ORDER: EvalMode[] = ['direct', 'cot', 'agent']

export type DatasetGroup = 'in-distribution' | 'out-of-distribution' | 'other'

/** A dataset as the table and the summary see it: its column label, metrics and group. */
export interface DatasetDescriptor {
  label: string
  kind: TaskKind
  group: DatasetGroup
}

export interface RowScores {
  em: number
  f1: number
  substring: number
  /** math sets only */
  math_equal?: number
  /** long-form sets only */
  similarity?: number
}

/** One turn of an agent episode as stored for the trajectory viewer. */
export interface StoredTurn {
  kind: 'answer' | 'call' | 'invalid-call'
  /** The turn as sampled, special tokens removed (rows stored before it existed have none). */
  text?: string
  think: string
  prompt: string | null
  environment_answer: string | null
  answer: string | null
  error: string | null
}

export interface EvalRow {
  dataset: string
  /** The row's position in its dataset, from 0. */
  row: number
  mode: EvalMode
  question: string
  golds: string[]
  prediction: string
  scores: RowScores
  environment_prompt_tokens: number
  environment_completion_tokens: number
  /** Tokens the agent sampled (0 without the agent). */
  agent_tokens: number
  /** Agent turns for the agent; 1 for the environment alone. */
  turns: number
  environment_calls: number
  latency_ms: number
  /** The environment's failure (after retries), or the first one of an agent episode; the row counts as answered wrong. */
  error: string | null
  /** How an agent episode ended ('answer', 'turn-limit', ...); null for the environment alone. */
  end_reason: string | null
  /** The environment's whole answer for direct/cot; the agent's turns for agent. */
  response: string | null
  trajectory: StoredTurn[] | null
  /** The embedder of the similarity score (long-form sets); null elsewhere. Rows stored before this
   * field existed were scored by the hashed bag of words. */
  similarity_embedder?: string | null
}

/** Metrics per task kind: EM, F1 and substring everywhere; math equivalence and similarity where they mean something. */
export async function scoreRow(prediction: string, golds: string[], kind: TaskKind, embedder: TextEmbedder): Promise<RowScores> {
  const scores: RowScores = { em: exactMatch(prediction, golds), f1: f1Score(prediction, golds), substring: substringMatch(prediction, golds) }
  if (kind === 'math') scores.math_equal = mathEqual(prediction, golds)
  if (kind === 'long-form') scores.similarity = await semanticSimilarity(prediction, golds, embedder)
  return scores
}

/** Which embedders scored the similarity of these rows: one name, several joined when a resumed job
 * changed embedder (never hidden), or 'none' without long-form rows. */
export function similarityEmbedders(rows: EvalRow[]): string {
  const names = new Set(rows.filter((r) => r.scores.similarity !== undefined).map((r) => r.similarity_embedder ?? HASHED_EMBEDDER_NAME))
  return names.size === 0 ? 'none' : names.size === 1 ? [...names][0] : `mixed: ${[...names].join('; ')}`
}

/** The headline metric of a set in the paper's table: EM, or similarity for the long-form sets. */
export const primaryMetric = (kind: TaskKind): keyof RowScores => (kind === 'long-form' ? 'similarity' : 'em')

export const datasetLabel = (spec: EvaluationConfig['datasets'][number]) => spec.name ?? spec.file_id ?? spec.path!

/** The datasets of a config, in its order, without reading them. */
export function describeDatasets(config: Pick<EvaluationConfig, 'datasets'>): DatasetDescriptor[] {
  return config.datasets.map((spec) => {
    if (spec.file_id === undefined && spec.path === undefined) {
      const named = namedDataset(spec.name!)
      if (!named) throw new Error(`no published or built-in dataset "${spec.name}"`)
      return { label: named.name, kind: spec.kind ?? named.kind, group: named.group }
    }
    return { label: datasetLabel(spec), kind: spec.kind ?? 'qa', group: 'other' }
  })
}

/** Table and file order: datasets as configured, then row, then mode. */
export function sortRows(rows: EvalRow[], datasets: DatasetDescriptor[]): EvalRow[] {
  const position = new Map(datasets.map((d, i) => [d.label, i]))
  return [...rows].sort((a, b) =>
    (position.get(a.dataset) ?? Infinity) - (position.get(b.dataset) ?? Infinity)
    || a.row - b.row || MODE_ORDER.indexOf(a.mode) - MODE_ORDER.indexOf(b.mode))
}

export const rowKey = (row: Pick<EvalRow, 'dataset' | 'row' | 'mode'>) => `${row.dataset}\u0000${row.mode}\u0000${row.row}`
