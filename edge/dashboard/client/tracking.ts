// Client side: what a job's events say: its progress and cost (from the metrics events), its
// curves and its log. Shared by training jobs and evaluations. Self-contained: see dom.ts.
import type { Api, JobEvent } from './api.ts'
import type { Charts } from './charts.ts'
import type { Dom } from './dom.ts'
import type { View } from './kit.ts'

export interface JobProgress { progress: number | null; step: number | null; environmentTokens: number }
/** How curves are drawn: smoothing weight, log scale, and another run to overlay. */
export interface ChartSettings { smoothing: number; log: boolean; compare: { label: string; events: JobEvent[] } | null }

export function trackingKit(dom: Dom, charts: Charts, api: Api) {
  const { el, fill, time, number } = dom
  // the curves the issue asks for first, in this order; any other numeric metric follows
  const PREFERRED = [
    'reward_mean', 'format_mean', 'answer_f1_mean', 'kl', 'response_tokens_mean', 'turns_mean', 'environment_tokens',
    'time_rollout_s', 'time_update_s', 'em', 'f1', 'progress',
  ]
  const NOT_CURVES = ['step', 'rows_done', 'rows_total', 'batch_rows']

  const metricsOf = (events: JobEvent[]) => events.filter((e) => e.type === 'metrics' && e.data)

  /** Progress and step from the latest metrics event; cost as the environment tokens of all of them. */
  function progressOf(events: JobEvent[]): JobProgress {
    const metrics = metricsOf(events)
    const latest = metrics.at(-1)?.data ?? {}
    const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null)
    const environmentTokens = metrics.reduce((sum, e) => sum + (num(e.data!.environment_tokens) ?? 0), 0)
    return { progress: num(latest.progress), step: num(latest.step) ?? num(latest.rows_done), environmentTokens }
  }

  const PHASES: Record<string, string> = {
    loading: 'loading the model and the data', 'warm-start': 'warm-start (supervised steps)', rollout: 'playing episodes',
    update: 'updating the policy (mini-batches)', validation: 'playing validation episodes', checkpoint: 'saving and uploading a checkpoint',
    evaluating: 'scoring rows', steps: 'steps',
  }
  const duration = (seconds: number) => {
    const s = Math.max(0, Math.round(seconds))
    return s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`
  }

  /**
   * What a running job is doing now (the phase its worker reports, how far, for how long) and, once
   * a step has been timed, about how long is left: the remaining steps at the mean step time so far.
   */
  function phaseLine(job: { status: string; progress: { phase: string; step: number | null; steps: number | null; done: number | null; total: number | null; phase_started_at: number } | null; started_at: number | null }, events: JobEvent[]): string {
    const p = job.progress
    if (!p) return job.status === 'running' ? 'starting…' : ''
    const now = Date.now() / 1000
    const parts = [
      p.step !== null && p.steps !== null && p.step > 0 ? `step ${p.step} of ${p.steps}` : null,
      `${PHASES[p.phase] ?? p.phase}${p.done !== null && p.total !== null ? ` ${number(p.done)}/${number(p.total)}` : ''}`,
      `for ${duration(now - p.phase_started_at)}`,
    ]
    const steps = metricsOf(events).filter((e) => typeof e.data!.step === 'number' && typeof e.data!.progress === 'number')
    if (steps.length > 0 && job.started_at !== null && p.steps !== null) {
      const perStep = (steps.at(-1)!.created_at - job.started_at) / steps.length
      const left = (p.steps - (steps.at(-1)!.data!.step as number)) * perStep
      parts.push(`about ${duration(left)} left (${duration(perStep)} a step so far)`)
    }
    return parts.filter(Boolean).join(' · ')
  }

  /** The share done from the events; before the first step, the phase the worker reports. */
  function progressCell(p: JobProgress, reported?: { phase: string } | null) {
    const label = p.progress === null ? (reported ? PHASES[reported.phase] ?? reported.phase : '–') : `${Math.round(100 * p.progress)}%${p.step === null ? '' : ` · ${number(p.step)}`}`
    return dom.progressBar(p.progress, label)
  }

  /** Each numeric metric's points, x = the event's step (else rows scored, else its position). */
  function seriesOf(events: JobEvent[]) {
    const series = new Map<string, [number, number][]>()
    let xName = 'event'
    metricsOf(events).forEach((event, i) => {
      const data = event.data!
      // training reports steps, evaluations the rows scored so far
      xName = typeof data.step === 'number' ? 'step' : typeof data.rows_done === 'number' ? 'row' : 'event'
      const x = typeof data.step === 'number' ? data.step : typeof data.rows_done === 'number' ? data.rows_done : i + 1
      for (const [name, value] of Object.entries(data)) {
        if (NOT_CURVES.includes(name) || typeof value !== 'number' || !Number.isFinite(value)) continue
        if (!series.has(name)) series.set(name, [])
        series.get(name)!.push([x, value])
      }
    })
    return { series, xName }
  }

  /** One chart per numeric metric of the job, with another run's curve of the same metric overlaid when comparing. */
  function drawCurves(container: Element, events: JobEvent[], settings: ChartSettings) {
    const { series, xName } = seriesOf(events)
    const other = settings.compare && seriesOf(settings.compare.events).series
    const rank = (name: string) => (PREFERRED.includes(name) ? PREFERRED.indexOf(name) : PREFERRED.length)
    const names = [...series.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
    if (names.length === 0) return fill(container, el('p', { class: 'muted' }, 'No metrics yet.'))
    fill(container, ...names.map((name) => charts.lineChart(name, [
      { label: 'this run', points: series.get(name)! },
      ...(other && other.get(name) ? [{ label: settings.compare!.label, points: other.get(name)! }] : []),
    ], xName, settings)))
  }

  /** The chart settings form of a page: its current values, and `onChange` called as they change. */
  function chartSettings(formId: string, onChange: () => void): () => ChartSettings {
    const form = dom.byId<HTMLFormElement>(formId)
    let compare: ChartSettings['compare'] = null
    const read = () => {
      const data = new FormData(form)
      return { smoothing: Number(data.get('smoothing') ?? 0), log: data.get('log') === 'on', compare }
    }
    form.oninput = () => {
      form.querySelector('output')!.textContent = String(read().smoothing)
      onChange()
    }
    const picker = form.querySelector<HTMLSelectElement>('select[name=compare]')
    if (picker) {
      picker.onchange = async () => {
        compare = picker.value ? { label: picker.value, events: await api.eventsAfter(`/v1/training/jobs/${picker.value}`, 0) } : null
        onChange()
      }
    }
    return read
  }

  /** Adds events to a log table's body, newest at the top. */
  function appendLog(tbody: Element, events: JobEvent[]) {
    for (const event of events) {
      tbody.prepend(el('tr', { class: `level-${event.level}` },
        el('td', {}, String(event.seq)), el('td', {}, time(event.created_at)), el('td', {}, event.level),
        el('td', {}, event.type), el('td', {}, event.message)))
    }
  }

  /**
   * Polls a job and its events (after the last seen seq) every `intervalMs` until stopped or the job
   * has ended and its last events are in. `onUpdate` gets all events so far, the new ones and the job.
   */
  function follow(base: string, intervalMs: number, onUpdate: (all: JobEvent[], added: JobEvent[], job: any) => void, onError: (error: unknown) => void) {
    const events: JobEvent[] = []
    let stopped = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const tick = async () => {
      try {
        // the job first: events read after it has ended include its last one
        const job = await api.get(base)
        const added = await api.eventsAfter(base, events.at(-1)?.seq ?? 0)
        if (stopped) return
        events.push(...added)
        onUpdate(events, added, job)
        if (dom.isTerminal(job.status)) return
      } catch (error) {
        if (stopped) return
        onError(error)
      }
      timer = setTimeout(tick, intervalMs)
    }
    void tick()
    return () => { stopped = true; clearTimeout(timer) }
  }

  /**
   * A list page of jobs (training jobs, evaluations): the newest 50 in a table, each row built by
   * `row` with the job's progress, refreshed every 2 s while any of them can still change. The
   * events seen per job are kept, so each refresh asks only for the new ones.
   */
  function jobList(base: string, ids: { table: string; message: string }, empty: string, row: (job: any, progress: JobProgress) => Element): View {
    const seen = new Map<string, JobEvent[]>()
    return () => {
      const tbody = dom.byId(ids.table).querySelector('tbody')!
      const message = dom.byId(ids.message)
      let timer: ReturnType<typeof setTimeout> | undefined
      let stopped = false
      const refresh = async () => {
        try {
          const page = await api.get(`${base}?limit=50`)
          for (const job of page.data) {
            const events = seen.get(job.id) ?? []
            events.push(...await api.eventsAfter(`${base}/${job.id}`, events.at(-1)?.seq ?? 0))
            seen.set(job.id, events)
          }
          if (stopped) return
          message.textContent = page.data.length === 0 ? empty : ''
          fill(tbody, page.data.map((job: any) => row(job, progressOf(seen.get(job.id)!))))
          if (page.data.some((job: any) => !dom.isTerminal(job.status))) timer = setTimeout(refresh, 2000)
        } catch (error) {
          if (!stopped) message.textContent = (error as Error).message
        }
      }
      void refresh()
      return () => { stopped = true; clearTimeout(timer) }
    }
  }

  /** Wires a job page's cancel button: POST {base}/cancel, the new status shown, a failure in `message`. */
  function cancelButton(buttonId: string, statusId: string, base: string, message: Element): HTMLButtonElement {
    const button = dom.byId<HTMLButtonElement>(buttonId)
    button.onclick = async () => {
      button.disabled = true
      try {
        fill(dom.byId(statusId), dom.statusBadge((await api.post(`${base}/cancel`)).status))
      } catch (error) {
        message.textContent = (error as Error).message
      }
    }
    return button
  }

  return { progressOf, progressCell, phaseLine, duration, drawCurves, chartSettings, appendLog, follow, jobList, cancelButton }
}

export type Tracking = ReturnType<typeof trackingKit>
