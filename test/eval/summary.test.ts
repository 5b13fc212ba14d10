// The pure parts of evaluation: bootstrap intervals, the summary, the paper-style table, the CSV
// and the eval config's validation.
import { describe, expect, it } from 'vitest'
import { CSV_COLUMNS, markdownTable, rowsToCsv } from '../../shared/eval/report.ts'
import { type EvalMode, type EvalRow, describeDatasets, similarityEmbedders } from '../../shared/eval/rows.ts'
import { HASHED_EMBEDDER_NAME } from '../../shared/protocol/metrics.ts'
import { bootstrapMean, bootstrapMeanOfMeans, bootstrapPairedDifference } from '../../shared/eval/stats.ts'
import { summarize } from '../../shared/eval/summary.ts'
import { createEvaluationBody } from '../../shared/job-config.ts'

function row(dataset: string, index: number, mode: EvalMode, em: number, extra: Partial<EvalRow> = {}): EvalRow {
  return {
    dataset, row: index, mode, question: `q${index}`, golds: ['a'], prediction: em ? 'a' : 'b', scores: { em, f1: em, substring: em },
    environment_prompt_tokens: 10, environment_completion_tokens: 5, agent_tokens: mode === 'agent' ? 7 : 0, turns: mode === 'agent' ? 2 : 1,
    environment_calls: 1, latency_ms: 100, error: null, end_reason: null, response: null, trajectory: null, ...extra,
  }
}

// Parses RFC 4180 CSV, so the test reads the file the way a spreadsheet would.
function parseCsv(text: string): string[][] {
  const records: string[][] = []
  let field = ''
  let record: string[] = []
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { field += '"'; i++ } else if (ch === '"') quoted = false
      else field += ch
    } else if (ch === '"') quoted = true
    else if (ch === ',') { record.push(field); field = '' }
    else if (ch === '\r' && text[i + 1] === '\n') { record.push(field); records.push(record); record = []; field = ''; i++ }
    else field += ch
  }
  return records
}

describe('bootstrap intervals', () => {
  it('are seeded, hold the mean, narrow with more rows and vanish without variance', () => {
    const values = Array.from({ length: 128 }, (_, i) => (i % 3 === 0 ? 1 : 0))
    const a = bootstrapMean(values, 1000)
    expect(bootstrapMean(values, 1000)).toEqual(a)
    expect(a.mean).toBeCloseTo(43 / 128, 12)
    expect(a.ci[0]).toBeLessThan(a.mean)
    expect(a.ci[1]).toBeGreaterThan(a.mean)
    // about +-1.96 * sqrt(p(1-p)/n) = +-0.082 for p = 0.336, n = 128
    expect(a.ci[1] - a.ci[0]).toBeGreaterThan(0.13)
    expect(a.ci[1] - a.ci[0]).toBeLessThan(0.2)
    const quarter = bootstrapMean(values.slice(0, 32), 1000)
    expect(quarter.ci[1] - quarter.ci[0]).toBeGreaterThan(a.ci[1] - a.ci[0])
    expect(bootstrapMean([1, 1, 1, 1], 1000)).toEqual({ mean: 1, ci: [1, 1] })
  })

  it('pairs rows for a difference, so a consistent gain is significant where unpaired noise is not', () => {
    const direct = Array.from({ length: 64 }, (_, i) => (i % 2 === 0 ? 1 : 0))
    const agent = direct.map((x, i) => (i % 8 === 1 ? 1 : x)) // 8 more rows right, none lost
    const difference = bootstrapPairedDifference(agent, direct, 2000)
    expect(difference.mean).toBeCloseTo(8 / 64, 12)
    expect(difference.ci[0]).toBeGreaterThan(0)
    expect(() => bootstrapPairedDifference([1], [1, 0], 100)).toThrow(/length/)
    // a mean of means averages the groups, not the rows
    expect(bootstrapMeanOfMeans([[1, 1, 1, 1], [0, 0]], 500).mean).toBe(0.5)
  })
})

describe('summary and table', () => {
  const config = { datasets: [{ name: 'triviaqa_ood' }, { name: 'gsm8k' }, { name: 'BookSum' }] }
  const datasets = describeDatasets(config)
  const rows: EvalRow[] = []
  for (let i = 0; i < 10; i++) {
    rows.push(row('gsm8k', i, 'direct', i < 5 ? 1 : 0), row('gsm8k', i, 'agent', i < 8 ? 1 : 0, { error: i === 9 ? 'boom' : null }))
    rows.push(row('triviaqa_ood', i, 'direct', i < 2 ? 1 : 0), row('triviaqa_ood', i, 'agent', i < 3 ? 1 : 0))
    const similarity = { em: 0, f1: 0.5, substring: 0, similarity: i / 10 }
    rows.push(
      row('BookSum', i, 'direct', 0, { scores: similarity, similarity_embedder: 'test-embedder' }),
      row('BookSum', i, 'agent', 0, { scores: { ...similarity, similarity: 0.5 }, similarity_embedder: 'test-embedder' }),
    )
  }
  const summary = summarize({ rows, datasets, modes: ['agent', 'direct'], resamples: 500 })

  it('reports every metric, the costs and the paired difference per dataset and mode', () => {
    expect(summary.modes).toEqual(['direct', 'agent'])
    const gsm8k = summary.datasets.find((d) => d.label === 'gsm8k')!
    expect(gsm8k).toMatchObject({ kind: 'math', group: 'in-distribution', primary_metric: 'em' })
    expect(gsm8k.modes.agent!.metrics.em!.mean).toBeCloseTo(0.8)
    expect(gsm8k.modes.agent).toMatchObject({ rows: 10, errors: 1, turns_per_answer: 2, agent_tokens: { total: 70, per_answer: 7 } })
    expect(gsm8k.modes.direct!.environment_tokens).toEqual({ prompt: 100, completion: 50, per_answer: 15 })
    expect(gsm8k.agent_minus_direct!.em!.mean).toBeCloseTo(0.3)
    const booksum = summary.datasets.find((d) => d.label === 'BookSum')!
    expect(booksum.primary_metric).toBe('similarity')
    expect(booksum.modes.direct!.metrics.similarity!.mean).toBeCloseTo(0.45)
    expect(booksum.modes.direct!.metrics.math_equal).toBeUndefined()
  })

  it('averages each group over its sets and all sets', () => {
    const byGroup = Object.fromEntries(summary.averages.map((a) => [a.group, a]))
    expect(Object.keys(byGroup)).toEqual(['in-distribution', 'all']) // one OOD set: no average of one
    expect(byGroup['in-distribution'].datasets).toEqual(['gsm8k', 'BookSum'])
    expect(byGroup['in-distribution'].modes.direct!.mean).toBeCloseTo((0.5 + 0.45) / 2)
    expect(byGroup.all.modes.agent!.mean).toBeCloseTo((0.8 + 0.3 + 0.5) / 3)
    expect(byGroup.all.agent_minus_direct!.mean).toBeCloseTo((0.3 + 0.05 + 0.1) / 3)
  })

  it('prints the paper layout: in-distribution columns, their average, then out-of-distribution', () => {
    const table = markdownTable(summary)
    const [header, rule, direct, agent, difference] = table.split('\n')
    expect(header).toBe('| Method | gsm8k (EM) | BookSum (Sim) | Avg ID | triviaqa_ood (EM) | Avg all |')
    expect(rule).toBe('|---|---:|---:|---:|---:|---:|')
    expect(direct).toMatch(/^\| Direct \(environment alone\) \| 50\.0 \[\d+\.\d, \d+\.\d\] \| 45\.0 /)
    expect(agent).toMatch(/^\| Prompt-R1 agent \| 80\.0 \[/)
    expect(difference).toMatch(/^\| Agent − Direct \(paired\) \| \+30\.0 \[\+\d+\.\d, \+\d+\.\d\] /)
    expect(table).toContain('10 rows per set')
    expect(table).toContain('embedder: test-embedder')
  })

  it('names the embedder of the similarity rows, every one of them when a resumed job changed it, and the hashed one for rows stored before the field', () => {
    const similarityRows = rows.filter((r) => r.dataset === 'BookSum')
    const embedders = (names: (string | undefined)[]) => similarityEmbedders(similarityRows.slice(0, names.length).map((r, i) => ({ ...r, similarity_embedder: names[i] })))
    expect(embedders(['a', 'a'])).toBe('a')
    expect(embedders(['a', 'b', 'a'])).toBe('mixed: a; b')
    expect(embedders([undefined])).toBe(HASHED_EMBEDDER_NAME)
    expect(similarityEmbedders(rows.filter((r) => r.dataset === 'gsm8k'))).toBe('none')
  })
})

describe('per-row CSV', () => {
  it('quotes commas, quotes and line breaks so every field reads back', () => {
    const tricky = row('gsm8k', 0, 'direct', 1, { prediction: 'He said "5,000"\nthen left', golds: ['5,000', 'x'], error: 'a, b' })
    const records = parseCsv(rowsToCsv([tricky, row('gsm8k', 1, 'agent', 0)]))
    expect(records[0]).toEqual([...CSV_COLUMNS])
    const first = Object.fromEntries(CSV_COLUMNS.map((c, i) => [c, records[1][i]]))
    expect(first).toMatchObject({ dataset: 'gsm8k', row: '0', mode: 'direct', prediction: 'He said "5,000"\nthen left', golds: '["5,000","x"]', em: '1', error: 'a, b', math_equal: '' })
    expect(records).toHaveLength(3)
  })
})

describe('eval config', () => {
  const environment = { base_url: 'http://127.0.0.1:1/v1', model: 'm' }
  const issue = (body: unknown) => {
    const parsed = createEvaluationBody.safeParse(body)
    return parsed.success ? undefined : { path: parsed.error.issues[0].path.join('.'), message: parsed.error.issues[0].message }
  }

  it('defaults to the three modes and the training protocol (its settings resolved at run time)', () => {
    const config = createEvaluationBody.parse({ datasets: ['gsm8k'], environment, agent: { model: '/models/agent' } })
    expect(config).toMatchObject({ modes: ['direct', 'cot', 'agent'], batch_size: 8, bootstrap_resamples: 1000, datasets: [{ name: 'gsm8k' }] })
    expect(config.agent).toMatchObject({ protocol: 'training' })
    expect(config.environment).toMatchObject({ cache: true, max_retries: 4, timeout_ms: 120_000 })
  })

  it('refuses what cannot run, naming the field', () => {
    expect(issue({ datasets: ['gsm8k'], environment })?.path).toBe('agent')
    expect(issue({ datasets: ['nope'], environment, modes: ['direct'] })).toMatchObject({ path: 'datasets.0.name', message: expect.stringContaining('not a published or built-in dataset') })
    expect(issue({ datasets: [{ file_id: 'file-1', path: '/x.jsonl' }], environment, modes: ['direct'] })?.path).toBe('datasets.0.path')
    expect(issue({ datasets: ['gsm8k', 'gsm8k'], environment, modes: ['direct'] })?.path).toBe('datasets')
    expect(issue({ datasets: ['gsm8k'], environment, modes: ['direct', 'direct'] })?.path).toBe('modes')
    expect(issue({ datasets: ['gsm8k'], environment, agent: { model: 'a', checkpoint: 'ckpt-1' } })?.path).toBe('agent.checkpoint')
    expect(issue({ datasets: ['gsm8k'], environment: { ...environment, extra: 1 }, modes: ['direct'] })?.path).toBe('environment')
    expect(issue({ datasets: [], environment, modes: ['direct'] })?.path).toBe('datasets')
  })
})
