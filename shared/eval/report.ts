// The outputs of an evaluation: the markdown table in the paper's layout (datasets as columns,
// in-distribution sets then out-of-distribution ones, each group followed by its average; one
// line per mode and the agent-minus-direct difference), and the per-row CSV and JSONL.
import type { Estimate } from './stats.ts'
import { type EvalRow, MODE_ORDER } from './rows.ts'
import type { EvalSummary } from './summary.ts'

const MODE_NAMES = { direct: 'Direct (environment alone)', cot: 'CoT (environment, step by step)', agent: 'Prompt-R1 agent' }
const GROUP_NAMES = { 'in-distribution': 'Avg ID', 'out-of-distribution': 'Avg OOD', other: 'Avg other', all: 'Avg all' }
const METRIC_NAMES = { em: 'EM', f1: 'F1', substring: 'Sub', math_equal: 'Math', similarity: 'Sim' }

const points = (x: number) => (100 * x).toFixed(1)
const signed = (x: number) => (x >= 0 ? '+' : '') + points(x)
const cell = (e: Estimate | null | undefined, format = points) => (e ? `${format(e.mean)} [${format(e.ci[0])}, ${format(e.ci[1])}]` : '–')

export function markdownTable(summary: EvalSummary): string {
  type Column = { header: string; value: (line: 'diff' | keyof typeof MODE_NAMES) => Estimate | null | undefined }
  const columns: Column[] = []
  const groupOrder = ['in-distribution', 'out-of-distribution', 'other'] as const
  for (const group of groupOrder) {
    for (const d of summary.datasets.filter((x) => x.group === group)) {
      columns.push({
        header: `${d.label} (${METRIC_NAMES[d.primary_metric]})`,
        value: (line) => (line === 'diff' ? d.agent_minus_direct?.[d.primary_metric] : d.modes[line]?.metrics[d.primary_metric]),
      })
    }
    const average = summary.averages.find((a) => a.group === group)
    if (average) columns.push({ header: GROUP_NAMES[group], value: (line) => (line === 'diff' ? average.agent_minus_direct : average.modes[line]) })
  }
  const all = summary.averages.find((a) => a.group === 'all')
  if (all) columns.push({ header: GROUP_NAMES.all, value: (line) => (line === 'diff' ? all.agent_minus_direct : all.modes[line]) })

  const lines = [
    `| Method | ${columns.map((c) => c.header).join(' | ')} |`,
    `|---|${columns.map(() => '---:|').join('')}`,
    ...summary.modes.map((mode) => `| ${MODE_NAMES[mode]} | ${columns.map((c) => cell(c.value(mode))).join(' | ')} |`),
  ]
  if (summary.modes.includes('agent') && summary.modes.includes('direct')) {
    lines.push(`| Agent − Direct (paired) | ${columns.map((c) => cell(c.value('diff'), signed)).join(' | ')} |`)
  }
  const rows = [...new Set(summary.datasets.flatMap((d) => Object.values(d.modes).map((m) => m.rows)))]
  const notes = [
    `Scores in points (0-100) with 95% bootstrap intervals (${summary.bootstrap.resamples} resamples) in brackets; ` +
    `${rows.length === 1 ? `${rows[0]} rows per set` : `${Math.min(...rows)}-${Math.max(...rows)} rows per set`}. ` +
    'EM for QA and math sets, semantic similarity (Sim) for long-form sets' +
    (summary.datasets.some((d) => d.primary_metric === 'similarity') ? ` (embedder: ${summary.similarity_embedder})` : '') +
    '; averages are means over the sets of the group.',
  ]
  const failed = failedRows(summary)
  if (failed.length > 0) notes.push(`Rows whose environment call failed, scored as wrong answers and not left out: ${failed.join(', ')}.`)
  return `${lines.join('\n')}\n\n${notes.join('\n')}\n`
}

/** "gsm8k direct 3/128" for every dataset and mode with rows whose environment failed. */
export function failedRows(summary: EvalSummary): string[] {
  return summary.datasets.flatMap((d) => MODE_ORDER.flatMap((mode) => {
    const m = d.modes[mode]
    return m && m.errors > 0 ? [`${d.label} ${mode} ${m.errors}/${m.rows}`] : []
  }))
}

export const CSV_COLUMNS = [
  'dataset', 'row', 'mode', 'prediction', 'golds', 'em', 'f1', 'substring', 'math_equal', 'similarity',
  'environment_prompt_tokens', 'environment_completion_tokens', 'agent_tokens', 'turns', 'environment_calls',
  'latency_ms', 'end_reason', 'error',
] as const

// RFC 4180: quote a field holding a comma, quote or line break, doubling its quotes.
function csvField(value: unknown): string {
  const text = value === null || value === undefined ? '' : typeof value === 'string' ? value : String(value)
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

/** One line per row; golds as a JSON list; the trajectories stay in the JSONL. */
export function rowsToCsv(rows: EvalRow[]): string {
  const lines = [CSV_COLUMNS.join(',')]
  for (const row of rows) {
    const record: Record<(typeof CSV_COLUMNS)[number], unknown> = {
      ...row, ...row.scores, golds: JSON.stringify(row.golds), latency_ms: Math.round(row.latency_ms),
      math_equal: row.scores.math_equal, similarity: row.scores.similarity,
    }
    lines.push(CSV_COLUMNS.map((column) => csvField(record[column])).join(','))
  }
  return lines.join('\r\n') + '\r\n'
}

export const rowsToJsonl = (rows: EvalRow[]) => rows.map((row) => JSON.stringify(row) + '\n').join('')
