// The summary of an evaluation, computed from its scored rows: per dataset and mode every metric
// with its 95% bootstrap interval, the costs, and the paired agent-minus-direct difference; then
// the averages over the in-distribution and out-of-distribution sets, as the paper reports them.
import { type Estimate, bootstrapMean, bootstrapMeanOfMeans, bootstrapPairedDifference, mean, percentile } from './stats.ts'
import { type DatasetDescriptor, type DatasetGroup, type EvalMode, type EvalRow, type RowScores, MODE_ORDER, primaryMetric, similarityEmbedders } from './rows.ts'

export interface ModeSummary {
  rows: number
  metrics: Partial<Record<keyof RowScores, Estimate>>
  environment_tokens: { prompt: number; completion: number; per_answer: number }
  agent_tokens: { total: number; per_answer: number }
  turns_per_answer: number
  environment_calls_per_answer: number
  latency_ms: { mean: number; p50: number; p95: number }
  /** rows whose environment failed (scored as wrong) */
  errors: number
}

export interface DatasetSummary extends DatasetDescriptor {
  primary_metric: keyof RowScores
  modes: Partial<Record<EvalMode, ModeSummary>>
  /** agent minus direct on the rows both scored, per metric */
  agent_minus_direct: Partial<Record<keyof RowScores, Estimate>> | null
}

export interface GroupAverage {
  group: DatasetGroup | 'all'
  datasets: string[]
  /** the mean over the datasets of each one's primary metric */
  modes: Partial<Record<EvalMode, Estimate>>
  agent_minus_direct: Estimate | null
}

export interface EvalSummary {
  object: 'evaluation.summary'
  rows_scored: number
  modes: EvalMode[]
  datasets: DatasetSummary[]
  averages: GroupAverage[]
  bootstrap: { resamples: number; confidence: number }
  similarity_embedder: string
}

const METRICS: (keyof RowScores)[] = ['em', 'f1', 'substring', 'math_equal', 'similarity']
const GROUPS: DatasetGroup[] = ['in-distribution', 'out-of-distribution', 'other']

export function summarize(input: {
  rows: EvalRow[]; datasets: DatasetDescriptor[]; modes: EvalMode[]; resamples: number
}): EvalSummary {
  const { rows, datasets, resamples } = input
  const modes = MODE_ORDER.filter((m) => input.modes.includes(m))
  const byDataset = new Map<string, EvalRow[]>()
  for (const row of rows) byDataset.set(row.dataset, [...(byDataset.get(row.dataset) ?? []), row])

  const summaries = datasets.map((dataset): DatasetSummary => {
    const own = byDataset.get(dataset.label) ?? []
    const summary: DatasetSummary = { ...dataset, primary_metric: primaryMetric(dataset.kind), modes: {}, agent_minus_direct: null }
    for (const mode of modes) {
      const scored = own.filter((r) => r.mode === mode)
      if (scored.length > 0) summary.modes[mode] = summarizeMode(scored, resamples)
    }
    summary.agent_minus_direct = pairedDifference(own, 'agent', 'direct', resamples)
    return summary
  })

  const averages: GroupAverage[] = []
  const groups = GROUPS.map((group) => ({ group, members: summaries.filter((s) => s.group === group) })).filter((g) => g.members.length > 0)
  // an average of one set would only repeat it
  for (const { group, members } of groups) {
    if (members.length > 1) averages.push(average(group, members, byDataset, modes, resamples))
  }
  if (groups.length > 1) averages.push(average('all', summaries, byDataset, modes, resamples))
  return {
    object: 'evaluation.summary', rows_scored: rows.length, modes, datasets: summaries, averages,
    bootstrap: { resamples, confidence: 0.95 }, similarity_embedder: similarityEmbedders(rows),
  }
}

function summarizeMode(rows: EvalRow[], resamples: number): ModeSummary {
  const metrics: ModeSummary['metrics'] = {}
  for (const metric of METRICS) {
    const values = rows.map((r) => r.scores[metric]).filter((v): v is number => v !== undefined)
    if (values.length === rows.length) metrics[metric] = bootstrapMean(values, resamples)
  }
  const sum = (pick: (r: EvalRow) => number) => rows.reduce((total, r) => total + pick(r), 0)
  const prompt = sum((r) => r.environment_prompt_tokens)
  const completion = sum((r) => r.environment_completion_tokens)
  const agentTokens = sum((r) => r.agent_tokens)
  const latencies = rows.map((r) => r.latency_ms)
  return {
    rows: rows.length,
    metrics,
    environment_tokens: { prompt, completion, per_answer: (prompt + completion) / rows.length },
    agent_tokens: { total: agentTokens, per_answer: agentTokens / rows.length },
    turns_per_answer: sum((r) => r.turns) / rows.length,
    environment_calls_per_answer: sum((r) => r.environment_calls) / rows.length,
    latency_ms: { mean: mean(latencies), p50: percentile(latencies, 0.5), p95: percentile(latencies, 0.95) },
    errors: rows.filter((r) => r.error !== null).length,
  }
}

/** The rows scored in both modes, paired by row number. */
function pairs(rows: EvalRow[], a: EvalMode, b: EvalMode): [EvalRow, EvalRow][] {
  const ofB = new Map(rows.filter((r) => r.mode === b).map((r) => [r.row, r]))
  return rows.filter((r) => r.mode === a && ofB.has(r.row)).map((r) => [r, ofB.get(r.row)!])
}

function pairedDifference(rows: EvalRow[], a: EvalMode, b: EvalMode, resamples: number): DatasetSummary['agent_minus_direct'] {
  const paired = pairs(rows, a, b)
  if (paired.length === 0) return null
  const out: NonNullable<DatasetSummary['agent_minus_direct']> = {}
  for (const metric of METRICS) {
    if (paired.every(([x, y]) => x.scores[metric] !== undefined && y.scores[metric] !== undefined)) {
      out[metric] = bootstrapPairedDifference(paired.map(([x]) => x.scores[metric]!), paired.map(([, y]) => y.scores[metric]!), resamples)
    }
  }
  return out
}

function average(group: GroupAverage['group'], members: DatasetSummary[], byDataset: Map<string, EvalRow[]>, modes: EvalMode[], resamples: number): GroupAverage {
  const primaryOf = (dataset: DatasetSummary, mode: EvalMode) =>
    (byDataset.get(dataset.label) ?? []).filter((r) => r.mode === mode).map((r) => r.scores[dataset.primary_metric] ?? 0)
  const result: GroupAverage = { group, datasets: members.map((m) => m.label), modes: {}, agent_minus_direct: null }
  for (const mode of modes) {
    const groups = members.map((m) => primaryOf(m, mode))
    // an average over only some of the datasets would not be comparable: report it once all have rows
    if (groups.every((g) => g.length > 0)) result.modes[mode] = bootstrapMeanOfMeans(groups, resamples)
  }
  const differences = members.map((m) => pairs(byDataset.get(m.label) ?? [], 'agent', 'direct')
    .map(([x, y]) => (x.scores[m.primary_metric] ?? 0) - (y.scores[m.primary_metric] ?? 0)))
  if (differences.every((d) => d.length > 0)) result.agent_minus_direct = bootstrapMeanOfMeans(differences, resamples)
  return result
}
