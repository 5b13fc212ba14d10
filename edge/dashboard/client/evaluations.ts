// Client side: evaluations: the list, the launch form, and an evaluation's page: progress and
// curves, the paper-style table with confidence intervals, the agent-vs-direct bar chart,
// downloads, and the scored rows in the trajectory viewer (trajectories.ts). Self-contained: see dom.ts.
import type { JobEvent } from './api.ts'
import type { Kit, View } from './kit.ts'
import type { ViewedTurn } from './trajectories.ts'

interface Estimate { mean: number; ci: [number, number] }
interface EvalRow {
  dataset: string; row: number; mode: string; question: string; golds: string[]; prediction: string
  scores: Record<string, number>; environment_prompt_tokens: number; environment_completion_tokens: number
  agent_tokens: number; turns: number; environment_calls: number; latency_ms: number; error: string | null
  end_reason: string | null; response: string | null; trajectory: ViewedTurn[] | null
}

export function evaluationViews(kit: Kit) {
  const { dom, api, forms, tracking, charts, trajectories } = kit
  const { el, fill, byId, time, number, points, statusBadge } = dom
  const BASE = '/v1/evaluations'
  const MODE_NAMES: Record<string, string> = { direct: 'Direct (environment alone)', cot: 'CoT (environment, step by step)', agent: 'Prompt-R1 agent' }
  const GROUP_NAMES: Record<string, string> = { 'in-distribution': 'Avg ID', 'out-of-distribution': 'Avg OOD', other: 'Avg other', all: 'Avg all' }
  const METRIC_NAMES: Record<string, string> = { em: 'EM', f1: 'F1', substring: 'Sub', math_equal: 'Math', similarity: 'Sim' }

  const list = tracking.jobList(BASE, { table: 'evals-table', message: 'evals-message' }, 'No evaluations yet.', (job, progress) => {
    const datasets = job.datasets.map((d: any) => (typeof d === 'string' ? d : d.name ?? d.file_id)).join(', ')
    return el('tr', {},
      el('td', {}, el('a', { href: `#/evaluations/${job.id}` }, job.id)), el('td', {}, datasets), el('td', {}, job.modes.join(', ')),
      el('td', {}, statusBadge(job.status)), el('td', {}, tracking.progressCell(progress, job.progress)),
      el('td', {}, scoreCell(job)), el('td', { class: 'num' }, number(progress.environmentTokens)), el('td', {}, time(job.created_at)))
  })

  /** A finished evaluation's average over all its sets, per mode, in points. */
  function scoreCell(job: any): string {
    const all = job.result?.summary?.averages?.find((a: any) => a.group === 'all')
    if (!all) return '–'
    return Object.entries(all.modes as Record<string, { mean: number }>).map(([mode, estimate]) => `${mode} ${points(estimate.mean)}`).join(' · ')
  }

  function setUpEvaluationForm() {
    const form = byId<HTMLFormElement>('eval-form')
    forms.handle(form, async (body) => {
      // the agent's settings are sent only with an agent to apply them to
      if (body.agent && body.agent.checkpoint === undefined && body.agent.model === undefined) delete body.agent
      const evaluation = await api.post(BASE, body)
      location.hash = `#/evaluations/${evaluation.id}`
    })
  }

  // --- the paper-style table and the bar chart, from the results' summary ---

  const cell = (estimate: Estimate | null | undefined, signed = false) => {
    if (!estimate) return el('td', { class: 'num' }, '–')
    // a difference is written with its sign, bounds included, as in the markdown table
    const format = (x: number) => (signed && x >= 0 ? '+' : '') + points(x)
    return el('td', { class: 'num' }, format(estimate.mean),
      el('small', { class: 'ci' }, ` [${format(estimate.ci[0])}, ${format(estimate.ci[1])}]`))
  }

  function resultsTable(summary: any) {
    type Line = string
    const columns: { header: string; value: (line: Line) => Estimate | null | undefined }[] = []
    for (const group of ['in-distribution', 'out-of-distribution', 'other']) {
      for (const d of summary.datasets.filter((x: any) => x.group === group)) {
        columns.push({
          header: `${d.label} (${METRIC_NAMES[d.primary_metric]})`,
          value: (line) => (line === 'diff' ? d.agent_minus_direct?.[d.primary_metric] : d.modes[line]?.metrics[d.primary_metric]),
        })
      }
      const average = summary.averages.find((a: any) => a.group === group)
      if (average) columns.push({ header: GROUP_NAMES[group], value: (line) => (line === 'diff' ? average.agent_minus_direct : average.modes[line]) })
    }
    const all = summary.averages.find((a: any) => a.group === 'all')
    if (all) columns.push({ header: GROUP_NAMES.all, value: (line) => (line === 'diff' ? all.agent_minus_direct : all.modes[line]) })
    const lines: Line[] = [...summary.modes]
    if (summary.modes.includes('agent') && summary.modes.includes('direct')) lines.push('diff')
    return el('table', { class: 'results' },
      el('caption', {}, `Scores in points (0-100) with 95% bootstrap intervals (${summary.bootstrap.resamples} resamples); ${summary.rows_scored} rows scored.`),
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Method'), columns.map((c) => el('th', { scope: 'col' }, c.header)))),
      el('tbody', {}, lines.map((line) => el('tr', { 'data-line': line },
        el('th', { scope: 'row' }, line === 'diff' ? 'Agent − Direct (paired)' : MODE_NAMES[line]),
        columns.map((c) => cell(c.value(line), line === 'diff'))))))
  }

  function resultsChart(summary: any) {
    const series = ['direct', 'agent'].filter((m) => summary.modes.includes(m))
    if (series.length === 0) return el('p', { class: 'muted' }, 'The bar chart compares the agent and direct modes; this evaluation ran neither.')
    const bars = summary.datasets.flatMap((d: any) => series.flatMap((mode) => {
      const estimate = d.modes[mode]?.metrics[d.primary_metric]
      return estimate ? [{ label: d.label, series: mode, value: estimate.mean, low: estimate.ci[0], high: estimate.ci[1] }] : []
    }))
    return charts.barChart('Agent vs direct per dataset (primary metric, 95% interval)', summary.datasets.map((d: any) => d.label), series, bars)
  }

  // --- the scored rows in the trajectory viewer ---

  function isWrong(row: EvalRow, primary: string) {
    if (primary === 'similarity') return (row.scores.similarity ?? 0) < 0.5
    return !(row.scores.em === 1 || row.scores.math_equal === 1)
  }

  function showRows(rows: EvalRow[], summary: any) {
    const primary = new Map<string, string>(summary.datasets.map((d: any) => [d.label, d.primary_metric]))
    const primaryOf = (row: EvalRow) => primary.get(row.dataset) ?? 'em'
    const filters = byId<HTMLFormElement>('rows-filters')
    const datasetPicker = filters.querySelector<HTMLSelectElement>('[name=dataset]')!
    const chosen = datasetPicker.value
    fill(datasetPicker, el('option', { value: '' }, 'all'), [...primary.keys()].map((label) => el('option', { value: label }, label)))
    datasetPicker.value = chosen
    trajectories.list(rows, {
      filters, count: byId('rows-count'), tbody: byId('rows-table').querySelector('tbody')!, panel: byId('trajectory'),
      flags: (row) => ({
        wrong: isWrong(row, primaryOf(row)), noCall: row.environment_calls === 0,
        format: row.mode === 'agent' && trajectories.formatFailure(row.end_reason, row.trajectory ?? []), error: row.error !== null,
      }),
      matches: (row, f) => (!f.get('dataset') || row.dataset === f.get('dataset')) && (!f.get('mode') || row.mode === f.get('mode')),
      cells: (row) => [
        el('td', {}, row.dataset), el('td', { class: 'num' }, String(row.row)), el('td', {}, row.mode),
        el('td', { class: 'clip' }, row.question), el('td', { class: 'clip' }, row.prediction),
        el('td', { class: 'num' }, number(row.scores[primaryOf(row)])),
        el('td', { class: 'num' }, String(row.turns)), el('td', { class: 'num' }, String(row.environment_calls)),
      ],
      label: (row) => `Open trajectory of ${row.dataset} row ${row.row} ${row.mode}`,
      view: (row) => ({
        title: `${row.dataset} row ${row.row} · ${row.mode}`,
        meta: [['question', row.question], ['gold answers', row.golds.join(' | ')], ['prediction', row.prediction || '(empty)'],
          ['scores', Object.entries(row.scores).map(([k, v]) => `${METRIC_NAMES[k] ?? k} ${number(v)}`).join(' · ')],
          ['end', row.end_reason ?? '–'], ['error', row.error ?? '–'],
          ['environment tokens', number(row.environment_prompt_tokens + row.environment_completion_tokens)],
          ['agent tokens', number(row.agent_tokens)], ['latency', `${number(row.latency_ms)} ms`]],
        turns: row.trajectory, response: row.response,
      }),
    })
  }

  const page: View = ([id]) => {
    const base = `${BASE}/${id}`
    fill(byId('eval-title'), 'Evaluation ', el('code', {}, id))
    for (const container of ['eval-curves', 'eval-table', 'eval-chart']) fill(byId(container))
    fill(byId('eval-log').querySelector('tbody')!)
    fill(byId('rows-table').querySelector('tbody')!)
    byId('trajectory').hidden = true
    const message = byId('eval-message')
    message.textContent = ''
    const cancel = tracking.cancelButton('eval-cancel', 'eval-status', base, message)
    for (const format of ['jsonl', 'csv']) {
      byId(`eval-download-${format}`).onclick = () => api.download(`${base}/results?format=${format}`, `${id}.${format}`)
        .catch((error) => { message.textContent = (error as Error).message })
    }
    const showResults = async () => {
      const results = await api.get(`${base}/results`)
      fill(byId('eval-table'), resultsTable(results.summary), results.partial ? el('p', { class: 'muted' }, 'Partial: the evaluation is still running.') : null)
      fill(byId('eval-chart'), resultsChart(results.summary))
      const text = await api.text(`${base}/results?format=jsonl`)
      showRows(text.split('\n').filter(Boolean).map((line) => JSON.parse(line)), results.summary)
    }
    let seen: JobEvent[] = []
    const settings = tracking.chartSettings('eval-chart-controls', () => tracking.drawCurves(byId('eval-curves'), seen, settings()))
    return tracking.follow(base, 1000, (events, added, job) => {
      seen = events
      fill(byId('eval-status'), statusBadge(job.status))
      cancel.disabled = dom.isTerminal(job.status) || job.status === 'cancelling'
      const progress = tracking.progressOf(events)
      fill(byId('eval-progress'), tracking.progressCell(progress, job.progress))
      byId('eval-phase').textContent = tracking.phaseLine(job, events)
      fill(byId('eval-meta'), [
        ['datasets', job.datasets.map((d: any) => (typeof d === 'string' ? d : d.name ?? d.file_id)).join(', ')],
        ['modes', job.modes.join(', ')], ['environment', job.environment.builtin ? `built-in ${job.environment.builtin}` : `${job.environment.model} at ${job.environment.base_url}`],
        ['agent', job.agent ? job.agent.checkpoint ?? job.agent.model : '–'], ['created', time(job.created_at)],
        ['environment tokens', number(progress.environmentTokens)], ['error', job.error ? `${job.error.code}: ${job.error.message}` : '–'],
      ].map(([term, value]) => [el('dt', {}, term), el('dd', {}, value)]))
      tracking.appendLog(byId('eval-log').querySelector('tbody')!, added)
      const scored = added.some((e) => e.type === 'metrics')
      if (scored || events.length === 0) tracking.drawCurves(byId('eval-curves'), events, settings())
      // results are recomputed from the stored rows: fetch them when rows arrive and at the end
      if (scored || dom.isTerminal(job.status)) showResults().catch((error) => { message.textContent = (error as Error).message })
    }, (error) => { message.textContent = (error as Error).message })
  }

  return { list, page, setUpEvaluationForm }
}
