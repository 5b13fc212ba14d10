// Client side: training jobs: the list (status, progress, cost), a job's page (live curves, event
// log, checkpoints with downloads, each step's episodes in the trajectory viewer, cancel) and the
// launch form. Self-contained: see dom.ts.
import type { JobEvent } from './api.ts'
import type { Kit, View } from './kit.ts'
import type { ViewedTurn } from './trajectories.ts'

/** One episode of a training step, as GET /v1/training/jobs/{id}/trajectories?step=N gives it. */
interface TrainingEpisode {
  step: number; index: number; group: number; question: string; golds: string[]; answer: string
  reward: number; format_score: number; answer_f1: number; advantage: number; end_reason: string
  environment_calls: number; environment_prompt_tokens: number; environment_completion_tokens: number; turns: ViewedTurn[]
}

export function jobViews(kit: Kit) {
  const { dom, api, forms, tracking, trajectories } = kit
  const { el, fill, byId, time, number, statusBadge } = dom
  const BASE = '/v1/training/jobs'

  const list = tracking.jobList(BASE, { table: 'jobs-table', message: 'jobs-message' }, 'No training jobs yet. To see one through to a chat, offline: Train the demo agent (a tiny agent learns to ask the built-in arithmetic environment, in about a minute on 2 CPU cores), watch its curves and episodes here, then chat with it in the Playground. With a large LLM: upload a dataset in New training job and Estimate the cost before launching.', (job, progress) =>
    el('tr', {},
      el('td', {}, el('a', { href: `#/jobs/${job.id}` }, job.id)),
      el('td', {}, job.kind), el('td', {}, job.model ?? '–'), el('td', {}, statusBadge(job.status)),
      el('td', {}, tracking.progressCell(progress, job.progress)), el('td', { class: 'num' }, number(progress.environmentTokens)),
      el('td', {}, time(job.created_at))))

  async function showCheckpoints(jobId: string) {
    const tbody = byId('job-checkpoints').querySelector('tbody')!
    const page = await api.get(`${BASE}/${jobId}/checkpoints?limit=100`)
    byId('job-checkpoints-empty').hidden = page.data.length > 0
    byId('job-checkpoints').hidden = page.data.length === 0
    fill(tbody, page.data.map((checkpoint: any) => el('tr', {},
      el('td', {}, checkpoint.id), el('td', { class: 'num' }, String(checkpoint.step_number)), el('td', {}, checkpoint.kind),
      el('td', {}, Object.entries(checkpoint.metrics ?? {}).map(([k, v]) => `${k} ${number(v as number)}`).join(', ') || '–'),
      el('td', { class: 'actions' }, ['merged', 'adapter', 'gguf'].map((format) => el('button', {
        type: 'button', disabled: !checkpoint.formats.includes(format),
        'aria-label': `Download ${format} checkpoint ${checkpoint.id}`,
        onclick: (event: Event) => downloadCheckpoint(checkpoint.id, format, event.currentTarget as HTMLButtonElement),
      }, `Download ${format}`))))))
  }

  async function downloadCheckpoint(id: string, format: string, button: HTMLButtonElement) {
    const message = byId('job-message')
    button.disabled = true
    try {
      // one tar by a signed link: the browser streams it to disk, however large the checkpoint
      const download = await api.get(`/v1/checkpoints/${id}/download?format=${format}`)
      api.follow(download.archive.url, download.archive.filename)
      message.textContent = ''
    } catch (error) {
      message.textContent = (error as Error).message
    } finally {
      button.disabled = false
    }
  }

  /**
   * The job's stored steps in the Step picker and the picked step's episodes in the trajectory
   * viewer. Returns what looks for new steps: the latest is shown unless the user picked another.
   */
  function stepEpisodes(base: string) {
    const filters = byId<HTMLFormElement>('job-rows-filters')
    const picker = filters.querySelector<HTMLSelectElement>('[name=step]')!
    const showSteps = (any: boolean) => {
      byId('job-trajectories-empty').hidden = any
      byId('job-episodes').hidden = !any
    }
    showSteps(false)
    fill(picker)
    fill(byId('job-rows-table').querySelector('tbody')!)
    byId('job-rows-count').textContent = ''
    byId('job-trajectory').hidden = true
    let shown = ''
    let followLatest = true
    const load = async () => {
      if (picker.value === shown) return
      shown = picker.value
      const page = await api.get(`${base}/trajectories?step=${shown}`)
      trajectories.list<TrainingEpisode>(page.data, {
        filters, count: byId('job-rows-count'), tbody: byId('job-rows-table').querySelector('tbody')!, panel: byId('job-trajectory'),
        flags: (e) => ({
          wrong: e.answer_f1 < 1, noCall: e.environment_calls === 0,
          // a training episode also has the reward's format part: below 1 is a format failure too
          format: e.format_score < 1 || trajectories.formatFailure(e.end_reason, e.turns),
          error: e.turns.some((turn) => turn.kind === 'call' && turn.error !== null),
        }),
        matches: () => true,
        cells: (e) => [
          el('td', { class: 'num' }, String(e.index)), el('td', { class: 'num' }, String(e.group)),
          el('td', { class: 'clip' }, e.question), el('td', { class: 'clip' }, e.answer),
          ...[e.reward, e.format_score, e.answer_f1, e.advantage].map((x) => el('td', { class: 'num' }, number(x))),
          el('td', { class: 'num' }, String(e.turns.length)), el('td', { class: 'num' }, String(e.environment_calls)),
        ],
        label: (e) => `Open trajectory of step ${e.step} episode ${e.index}`,
        view: (e) => ({
          title: `Step ${e.step} · episode ${e.index} (group ${e.group})`,
          meta: [['question', e.question], ['gold answers', e.golds.join(' | ')], ['answer', e.answer || '(empty)'],
            ['reward', number(e.reward)], ['format score', number(e.format_score)], ['answer F1', number(e.answer_f1)],
            ['advantage', number(e.advantage)], ['end', e.end_reason], ['environment calls', String(e.environment_calls)],
            ['environment tokens', number(e.environment_prompt_tokens + e.environment_completion_tokens)]],
          turns: e.turns, response: null,
        }),
      })
    }
    picker.onchange = () => {
      followLatest = picker.selectedIndex === picker.options.length - 1
      void load().catch((error) => { byId('job-message').textContent = (error as Error).message })
    }
    return async () => {
      const steps: string[] = (await api.get(`${base}/trajectories/steps`)).data.map((s: { step: number }) => String(s.step))
      showSteps(steps.length > 0)
      const picked = picker.value
      fill(picker, steps.map((step) => el('option', { value: step }, `${step}`)))
      picker.value = followLatest ? steps.at(-1) ?? '' : picked
      if (picker.value) await load()
    }
  }

  const page: View = ([id]) => {
    const base = `${BASE}/${id}`
    const refreshEpisodes = stepEpisodes(base)
    fill(byId('job-title'), 'Training job ', el('code', {}, id))
    fill(byId('job-log').querySelector('tbody')!)
    fill(byId('job-curves'))
    fill(byId('job-checkpoints').querySelector('tbody')!)
    const message = byId('job-message')
    message.textContent = ''
    const cancel = tracking.cancelButton('job-cancel', 'job-status', base, message)
    let lastStatus = ''
    let seen: JobEvent[] = []
    const settings = tracking.chartSettings('job-chart-controls', () => tracking.drawCurves(byId('job-curves'), seen, settings()))
    // the other runs of the project, any of which can be overlaid on this one's curves
    api.get(`${BASE}?limit=100`).then((jobs) => {
      const picker = byId('job-chart-controls').querySelector('select[name=compare]')!
      fill(picker, el('option', { value: '' }, '(no other run)'),
        jobs.data.filter((j: any) => j.id !== id).map((j: any) => el('option', { value: j.id }, `${j.id} · ${j.kind} · ${j.status}`)))
    }).catch((error) => { message.textContent = (error as Error).message })
    return tracking.follow(base, 1000, (events, added, job) => {
      seen = events
      fill(byId('job-status'), statusBadge(job.status))
      cancel.disabled = dom.isTerminal(job.status) || job.status === 'cancelling'
      const progress = tracking.progressOf(events)
      fill(byId('job-progress'), tracking.progressCell(progress, job.progress))
      byId('job-phase').textContent = tracking.phaseLine(job, events)
      fill(byId('job-meta'), [
        ['kind', job.kind], ['model', job.model ?? '–'], ['created', time(job.created_at)], ['finished', time(job.finished_at)],
        ['attempt', `${job.attempt} of ${job.max_attempts}`], ['environment tokens', number(progress.environmentTokens)],
        ['merged model', job.fine_tuned_model ?? '–'], ['error', job.error ? `${job.error.code}: ${job.error.message}` : '–'],
      ].map(([term, value]) => [el('dt', {}, term), el('dd', {}, value)]))
      // a finished job's model, with the built-in environment it learned against
      byId('job-next').hidden = !(job.status === 'succeeded' && job.fine_tuned_model)
      const chat = new URLSearchParams({ model: job.fine_tuned_model ?? '', ...(job.environment?.builtin ? { builtin: job.environment.builtin } : {}) })
      byId('job-chat').setAttribute('href', `#/playground?${chat}`)
      const stepped = added.some((e) => e.type === 'metrics')
      if (events.length === 0 || stepped) tracking.drawCurves(byId('job-curves'), events, settings())
      tracking.appendLog(byId('job-log').querySelector('tbody')!, added)
      // a step's episodes are stored before its metrics event
      if (events.length === 0 || stepped) refreshEpisodes().catch((error) => { message.textContent = (error as Error).message })
      // checkpoints appear as the job runs; look again when the status changes or a checkpoint is reported
      if (job.status !== lastStatus || added.some((e) => /checkpoint/i.test(e.message))) {
        lastStatus = job.status
        showCheckpoints(id).catch((error) => { message.textContent = (error as Error).message })
      }
    }, (error) => { message.textContent = (error as Error).message })
  }

  /** The jobs page's "Train the demo agent": the demo's body (shared/demo.ts, carried by the button), launched like any job. */
  function setUpDemo() {
    const button = byId<HTMLButtonElement>('demo-train')
    button.onclick = async () => {
      button.disabled = true
      try {
        const job = await api.post(BASE, JSON.parse(button.dataset.job!))
        location.hash = `#/jobs/${job.id}`
      } catch (error) {
        byId('jobs-message').textContent = (error as Error).message
      } finally {
        button.disabled = false
      }
    }
  }

  /** The launch form: GRPO or noop, its files from the project's uploads. */
  function setUpTrainingForm() {
    const form = byId<HTMLFormElement>('train-form')
    const method = form.querySelector<HTMLSelectElement>('[data-param="method.type"]')!
    const showMethod = () => {
      for (const fieldset of form.querySelectorAll<HTMLFieldSetElement>('fieldset[data-method]')) {
        const active = fieldset.dataset.method === method.value
        fieldset.disabled = !active
        fieldset.hidden = !active
      }
    }
    method.addEventListener('change', showMethod)
    showMethod()
    forms.handle(form, async (body) => {
      const job = await api.post(BASE, body)
      location.hash = `#/jobs/${job.id}`
    })
    // the same body and checks as a launch; what it would cost, nothing created
    const result = byId('train-estimate-result')
    byId<HTMLButtonElement>('train-estimate').addEventListener('click', async () => {
      forms.clearErrors(form)
      result.textContent = ''
      try {
        const e = await api.post(`${BASE}/estimate`, forms.bodyOf(form))
        result.textContent = [
          `${number(e.episodes)} episodes (${number(e.episodes_per_step)} a step${e.epochs === null ? '' : `, ${e.epochs.toFixed(1)} passes over ${number(e.training_rows)} rows`})`,
          `at most ${number(e.environment_calls_max)} environment calls and ${number(e.sampled_tokens_max)} sampled tokens`,
          e.validation_episodes ? `${number(e.validation_episodes)} validation episodes` : null,
          e.time.seconds === null ? `time: unknown (${e.time.basis})` : `about ${tracking.duration(e.time.seconds)} on the workers (from ${e.time.basis})`,
        ].filter(Boolean).join(' · ')
      } catch (error) {
        forms.showError(form, error)
      }
    })
  }

  // the launch forms' views: their file pickers show the project's current uploads
  const withFiles: View = () => {
    refreshFileChoices().catch((error) => { byId('page-message').textContent = (error as Error).message })
  }

  // the file pickers of both launch forms, from the project's uploads
  async function refreshFileChoices(select?: { id: string; fileId: string }) {
    const files = await api.get('/v1/files?limit=100')
    for (const picker of document.querySelectorAll<HTMLSelectElement>('select[data-files]')) {
      const current = picker.value
      fill(picker, el('option', { value: '' }, picker.dataset.files === 'optional' ? '(none)' : '(choose a file)'),
        files.data.map((file: any) => el('option', { value: file.id }, `${file.filename} · ${file.row_count} rows · ${file.id}`)))
      picker.value = select?.id === picker.id ? select.fileId : current
    }
  }

  /** Upload forms: POST /v1/files, then the new file is chosen in the picker the form names. */
  function setUpUploads() {
    for (const form of document.querySelectorAll<HTMLFormElement>('form.upload-form')) {
      forms.handle(form, async () => {
        const data = new FormData(form)
        const input = form.querySelector<HTMLInputElement>('input[type=file]')!
        if (!input.files?.length) throw new api.ApiError(400, 'missing_required_parameter', 'Choose a file to upload', 'file')
        const file = await api.post('/v1/files', data)
        await refreshFileChoices({ id: form.dataset.target!, fileId: file.id })
        form.reset()
        form.querySelector('.upload-result')!.textContent = `Uploaded ${file.filename}: ${file.row_count} rows (${file.id}), chosen below`
      })
    }
  }

  return { list, page, withFiles, setUpDemo, setUpTrainingForm, setUpUploads }
}
