// Client side: forms whose fields name the API parameter they set (data-param="method.noop.steps"),
// so a form becomes a request body, and an API error's `param` finds the field to show it next to.
// Self-contained: see dom.ts.
import type { Api } from './api.ts'

type Field = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement

export function formKit(api: Api) {
  function setPath(target: Record<string, any>, path: string, value: unknown) {
    const keys = path.split('.')
    let node = target
    for (const key of keys.slice(0, -1)) node = node[key] ??= {}
    node[keys.at(-1)!] = value
  }

  /**
   * The body a form describes. data-type: "number" (empty means: leave it to the API's default),
   * "list" (checked boxes or a non-empty select add their value to an array; data-wrap="file_id"
   * adds {file_id: value}); anything else is a string, left out when empty.
   */
  function bodyOf(form: HTMLFormElement): Record<string, any> {
    const body: Record<string, any> = {}
    const lists = new Map<string, unknown[]>()
    for (const field of form.querySelectorAll<Field>('[data-param]')) {
      if (field.matches(':disabled')) continue
      const param = field.dataset.param!
      const type = field.dataset.type
      if (type === 'list') {
        const list = lists.get(param) ?? []
        lists.set(param, list)
        const chosen = field instanceof HTMLInputElement && (field.type === 'checkbox' || field.type === 'radio') ? field.checked : field.value !== ''
        if (chosen) list.push(field.dataset.wrap ? { [field.dataset.wrap]: field.value } : field.value)
        continue
      }
      if (field instanceof HTMLInputElement && field.type === 'checkbox') {
        setPath(body, param, field.checked)
        continue
      }
      const value = field.value.trim()
      if (value === '') continue
      // a number field that does not parse is sent as typed, so the API says what is wrong with it
      setPath(body, param, type === 'number' && Number.isFinite(Number(value)) ? Number(value) : value)
    }
    for (const [param, list] of lists) setPath(body, param, list)
    return body
  }

  function clearErrors(form: HTMLFormElement) {
    for (const message of form.querySelectorAll('.field-error, .form-error')) message.textContent = ''
    for (const field of form.querySelectorAll('[aria-invalid]')) field.removeAttribute('aria-invalid')
  }

  /**
   * Shows each problem of an error next to the field its `param` names ("datasets.0.name" falls back
   * to "datasets.0", then "datasets"); problems naming no field go to the form's own message line.
   * The first wrong field gets the focus.
   */
  function showError(form: HTMLFormElement, error: unknown) {
    const problems = error instanceof api.ApiError ? error.details : [{ message: error instanceof Error ? error.message : String(error), param: null }]
    const unplaced: string[] = []
    let focused = false
    for (const { message, param } of problems) {
      const parts = param ? param.split('.') : []
      let placed = false
      for (let n = parts.length; n > 0 && !placed; n--) {
        const name = parts.slice(0, n).join('.')
        const field = form.querySelector<HTMLElement>(`[data-param="${CSS.escape(name)}"]`)
        const slot = form.querySelector<HTMLElement>(`[data-error-for="${CSS.escape(name)}"]`)
        if (!field || !slot) continue
        slot.textContent = slot.textContent ? `${slot.textContent} ${message}` : message
        field.setAttribute('aria-invalid', 'true')
        if (!focused) field.focus()
        focused = placed = true
      }
      if (!placed) unplaced.push(message)
    }
    form.querySelector('.form-error')!.textContent = unplaced.join(' ')
  }

  /** Runs a form's submit through `submit`, with its button disabled meanwhile and errors placed. */
  function handle(form: HTMLFormElement, submit: (body: Record<string, any>) => Promise<void>) {
    form.addEventListener('submit', async (event) => {
      event.preventDefault()
      clearErrors(form)
      const button = form.querySelector<HTMLButtonElement>('button[type=submit]')!
      button.disabled = true
      try {
        await submit(bodyOf(form))
      } catch (error) {
        showError(form, error)
      } finally {
        button.disabled = false
      }
    })
  }

  return { bodyOf, clearErrors, showError, handle }
}

export type Forms = ReturnType<typeof formKit>
