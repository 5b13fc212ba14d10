// Client side: training jobs: the list (status, progress, cost), a job's page (live curves, event
// log, checkpoints with downloads, cancel) and the launch form. Self-contained: see dom.ts.
import type { JobEvent } from './api.ts'
import type { Kit, View } from './kit.ts'

export function jobViews(kit: Kit) {
  const { dom, api, forms, tracking } = kit
  const { el, fill, byId, time, number, statusBadge } = dom
  const BASE = '/v1/training/jobs'

  // events seen per job, so that each refresh of the list asks only for the new ones
  const seen = new Map<string, JobEvent[]>()

  const list: View = () => {
    const tbody = byId('jobs-table').querySelector('tbody')!
    const message = byId('jobs-message')
    let timer: ReturnType<typeof setTimeout> | undefined
    let stopped = false
    const refresh = async () => {
      try {
        const page = await api.get(`${BASE}?limit=50`)
        for (const job of page.data) {
          const events = seen.get(job.id) ?? []
          events.push(...await api.eventsAfter(`${BASE}/${job.id}`, events.at(-1)?.seq ?? 0))
          seen.set(job.id, events)
        }
        if (stopped) return
        message.textContent = page.data.length === 0 ? 'No training jobs yet.' : ''
        fill(tbody, page.data.map((job: any) => {
          const progress = tracking.progressOf(seen.get(job.id)!)
          return el('tr', {},
            el('td', {}, el('a', { href: `#/jobs/${job.id}` }, job.id)),
            el('td', {}, job.kind), el('td', {}, job.model ?? '–'), el('td', {}, statusBadge(job.status)),
            el('td', {}, tracking.progressCell(progress)), el('td', { class: 'num' }, number(progress.environmentTokens)),
            el('td', {}, time(job.created_at)))
        }))
        // poll only while something can still change
        if (page.data.some((job: any) => !dom.isTerminal(job.status))) timer = setTimeout(refresh, 2000)
      } catch (error) {
        if (!stopped) message.textContent = (error as Error).message
      }
    }
    void refresh()
    return () => { stopped = true; clearTimeout(timer) }
  }

  async function showCheckpoints(jobId: string) {
    const tbody = byId('job-checkpoints').querySelector('tbody')!
    const page = await api.get(`${BASE}/${jobId}/checkpoints?limit=100`)
    byId('job-checkpoints-empty').hidden = page.data.length > 0
    byId('job-checkpoints').hidden = page.data.length === 0
    fill(tbody, page.data.map((checkpoint: any) => el('tr', {},
      el('td', {}, checkpoint.id), el('td', { class: 'num' }, String(checkpoint.step_number)), el('td', {}, checkpoint.kind),
      el('td', {}, Object.entries(checkpoint.metrics ?? {}).map(([k, v]) => `${k} ${number(v as number)}`).join(', ') || '–'),
      el('td', { class: 'actions' }, ['merged', 'adapter'].map((format) => el('button', {
        type: 'button', disabled: !checkpoint.formats.includes(format),
        'aria-label': `Download ${format} checkpoint ${checkpoint.id}`,
        onclick: (event: Event) => downloadCheckpoint(checkpoint.id, format, event.currentTarget as HTMLButtonElement),
      }, `Download ${format}`))))))
  }

  async function downloadCheckpoint(id: string, format: string, button: HTMLButtonElement) {
    const message = byId('job-message')
    button.disabled = true
    try {
      const download = await api.get(`/v1/checkpoints/${id}/download?format=${format}`)
      for (const file of download.files) await api.download(file.url, file.path.split('/').pop())
      message.textContent = ''
    } catch (error) {
      message.textContent = (error as Error).message
    } finally {
      button.disabled = false
    }
  }

  const page: View = ([id]) => {
    const base = `${BASE}/${id}`
    fill(byId('job-title'), 'Training job ', el('code', {}, id))
    fill(byId('job-log').querySelector('tbody')!)
    fill(byId('job-curves'))
    fill(byId('job-checkpoints').querySelector('tbody')!)
    const message = byId('job-message')
    message.textContent = ''
    const cancel = byId<HTMLButtonElement>('job-cancel')
    cancel.onclick = async () => {
      cancel.disabled = true
      try {
        const job = await api.post(`${base}/cancel`)
        fill(byId('job-status'), statusBadge(job.status))
      } catch (error) {
        message.textContent = (error as Error).message
      }
    }
    let lastStatus = ''
    return tracking.follow(base, 1000, (events, added, job) => {
      fill(byId('job-status'), statusBadge(job.status))
      cancel.disabled = dom.isTerminal(job.status) || job.status === 'cancelling'
      const progress = tracking.progressOf(events)
      fill(byId('job-progress'), tracking.progressCell(progress))
      fill(byId('job-meta'), [
        ['kind', job.kind], ['model', job.model ?? '–'], ['created', time(job.created_at)], ['finished', time(job.finished_at)],
        ['attempt', `${job.attempt} of ${job.max_attempts}`], ['environment tokens', number(progress.environmentTokens)],
        ['merged model', job.fine_tuned_model ?? '–'], ['error', job.error ? `${job.error.code}: ${job.error.message}` : '–'],
      ].map(([term, value]) => [el('dt', {}, term), el('dd', {}, value)]))
      if (events.length === 0 || added.some((e) => e.type === 'metrics')) tracking.drawCurves(byId('job-curves'), events)
      tracking.appendLog(byId('job-log').querySelector('tbody')!, added)
      // checkpoints appear as the job runs; look again when the status changes or a checkpoint is reported
      if (job.status !== lastStatus || added.some((e) => /checkpoint/i.test(e.message))) {
        lastStatus = job.status
        showCheckpoints(id).catch((error) => { message.textContent = (error as Error).message })
      }
    }, (error) => { message.textContent = (error as Error).message })
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

  return { list, page, withFiles, setUpTrainingForm, setUpUploads }
}
