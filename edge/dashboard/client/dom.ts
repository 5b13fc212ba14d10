// Client side: DOM and formatting helpers. Like every file in this folder, the exported function is
// serialized with toString() and run in the browser (see script.ts), so it must not refer to
// anything outside its own body: type imports only.

export type Child = Node | string | number | null | undefined | false | Child[]
export type Attributes = Record<string, string | number | boolean | null | undefined | EventListener>

export function domKit() {
  const SVG_NS = 'http://www.w3.org/2000/svg'

  function append(parent: Node, children: Child[]) {
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue
      if (Array.isArray(child)) append(parent, child)
      // text, never markup: everything shown comes from the API or a model
      else parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)))
    }
  }

  function setAttributes(element: Element, attributes: Attributes) {
    for (const [name, value] of Object.entries(attributes)) {
      if (typeof value === 'function') element.addEventListener(name.replace(/^on/, ''), value)
      else if (value === true) element.setAttribute(name, '')
      else if (value !== false && value !== null && value !== undefined) element.setAttribute(name, String(value))
    }
  }

  /** An HTML element: el('button', {type: 'button', onclick: ...}, 'Cancel'). */
  function el<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
    const element = document.createElement(tag)
    setAttributes(element, attributes)
    append(element, children)
    return element
  }

  function svg(tag: string, attributes: Attributes = {}, ...children: Child[]): SVGElement {
    const element = document.createElementNS(SVG_NS, tag)
    setAttributes(element, attributes)
    append(element, children)
    return element
  }

  /** Replaces an element's children. */
  function fill(parent: Element, ...children: Child[]) {
    parent.replaceChildren()
    append(parent, children)
  }

  const byId = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T

  const time = (seconds: number | null | undefined) => (seconds ? new Date(seconds * 1000).toLocaleString() : '–')
  const points = (x: number | null | undefined) => (x === null || x === undefined ? '–' : (100 * x).toFixed(1))
  const number = (x: number | null | undefined, digits = 3) => {
    if (x === null || x === undefined || !Number.isFinite(x)) return '–'
    if (Number.isInteger(x)) return x.toLocaleString('en-US')
    return Math.abs(x) >= 1000 ? Math.round(x).toLocaleString('en-US') : Number(x.toPrecision(digits)).toString()
  }

  const TERMINAL = ['succeeded', 'failed', 'cancelled']
  const isTerminal = (status: string) => TERMINAL.includes(status)
  const statusBadge = (status: string) => el('span', { class: `status status-${status}` }, status.replace('_', ' '))

  function progressBar(fraction: number | null, label: string) {
    const value = fraction === null ? 0 : Math.max(0, Math.min(1, fraction))
    return el('span', { class: 'progress' },
      el('progress', { max: 1, value, 'aria-label': 'progress' }),
      el('span', { class: 'progress-label' }, label))
  }

  return { el, svg, fill, byId, time, points, number, isTerminal, statusBadge, progressBar }
}

export type Dom = ReturnType<typeof domKit>
