// Form fields for the dashboard's forms. Each input names the API parameter it sets
// (data-param), and has a slot for the API's validation message about that parameter
// (data-error-for), which the client script fills (client/forms.ts).
import type { Child } from 'hono/jsx'

const idOf = (form: string, param: string) => `${form}-${param.replaceAll('.', '-')}`

export function ErrorSlot({ form, param }: { form: string; param: string }) {
  return <p class="field-error" id={`${idOf(form, param)}-error`} data-error-for={param} aria-live="polite"></p>
}

interface FieldProps {
  form: string
  param: string
  label: string
  type?: 'text' | 'number' | 'password' | 'url'
  value?: string | number
  placeholder?: string
  hint?: string
  step?: string
}

// Numbers are typed into text inputs: a number input hands over '' for what it cannot parse, and
// the user should see the API's own message about what was typed.
export function Field({ form, param, label, type = 'text', value, placeholder, hint, step }: FieldProps) {
  const id = idOf(form, param)
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input id={id} name={param} type={type === 'number' ? 'text' : type} inputmode={type === 'number' ? 'decimal' : undefined}
        data-param={param} data-type={type === 'number' ? 'number' : undefined} value={value === undefined ? undefined : String(value)}
        placeholder={placeholder} step={step} aria-describedby={`${id}-error`} autocomplete="off" />
      {hint && <small class="hint">{hint}</small>}
      <ErrorSlot form={form} param={param} />
    </div>
  )
}

export function Select({ form, param, label, children, files }: { form: string; param: string; label: string; children?: Child; files?: 'required' | 'optional' }) {
  const id = idOf(form, param)
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select id={id} name={param} data-param={param} data-files={files} aria-describedby={`${id}-error`}>{children}</select>
      <ErrorSlot form={form} param={param} />
    </div>
  )
}

/** Checkboxes that together make one list parameter (datasets, modes); `slot: false` for a second group of the same list. */
export function Choices({ form, param, legend, options, checked, slot = true }: { form: string; param: string; legend: string; options: { value: string; label: string }[]; checked: string[]; slot?: boolean }) {
  return (
    <fieldset class="choices">
      <legend>{legend}</legend>
      {options.map((option) => (
        <label class="choice">
          <input type="checkbox" name={param} value={option.value} data-param={param} data-type="list" checked={checked.includes(option.value)} />
          {option.label}
        </label>
      ))}
      {slot && <ErrorSlot form={form} param={param} />}
    </fieldset>
  )
}

export const FormError = () => <p class="form-error" role="alert"></p>
