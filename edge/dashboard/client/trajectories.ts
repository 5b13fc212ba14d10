// Client side: the trajectory viewer, shared by an evaluation's scored rows and a training step's
// episodes: a table of episodes filtered by wrong answers, no call made and format failures (plus
// the caller's own filters), and one episode's every turn. Self-contained: see dom.ts.
import type { Child, Dom } from './dom.ts'

/** A turn as both evaluation rows and training episodes store it (training adds fields). */
export interface ViewedTurn { kind: string; think: string; prompt: string | null; environment_answer: string | null; answer: string | null; error: string | null }

/** What the viewer shows of one episode, however it was stored. */
export interface EpisodeView {
  title: string
  meta: [string, string][]
  /** The agent's turns; null for an episode of the environment alone, shown by its response. */
  turns: ViewedTurn[] | null
  response: string | null
}

export interface EpisodeFlags { wrong: boolean; noCall: boolean; format: boolean; error: boolean }

/** Where an episode list lives on the page and how to read its rows. */
export interface EpisodeList<T> {
  filters: HTMLFormElement
  count: HTMLElement
  tbody: HTMLElement
  panel: HTMLElement
  flags(row: T): EpisodeFlags
  /** The caller's own filters (other fields of the filter form). */
  matches(row: T, filters: FormData): boolean
  cells(row: T): Child[]
  /** Names the row's Open button. */
  label(row: T): string
  view(row: T): EpisodeView
}

export function trajectoryKit(dom: Dom) {
  const { el, fill } = dom
  const LIMIT = 200

  /** An episode that did not end with an answer, or had a call that could not be read. */
  const formatFailure = (endReason: string | null, turns: ViewedTurn[]) => endReason !== 'answer' || turns.some((turn) => turn.kind === 'invalid-call')

  function show(panel: HTMLElement, episode: EpisodeView) {
    // what the agent wrote, even when empty: an empty think or answer is worth seeing
    const block = (label: string, text: string | null) => (text === null ? null
      : el('div', { class: 'turn-part' }, el('h5', {}, label), el('pre', {}, text === '' ? '(empty)' : text)))
    panel.hidden = false
    fill(panel,
      el('h3', { tabindex: -1 }, episode.title),
      el('dl', { class: 'meta' }, episode.meta.map(([term, value]) => [el('dt', {}, term), el('dd', {}, value)])),
      episode.turns
        ? el('ol', { class: 'turns' }, episode.turns.map((turn, i) => el('li', { class: `turn turn-${turn.kind}` },
          el('h4', {}, `Turn ${i + 1} · ${turn.kind}`),
          block('Think', turn.think), block('Prompt sent', turn.prompt), block('Environment answer', turn.environment_answer),
          block('Final answer', turn.answer), block('Error', turn.error))))
        : block('Environment response', episode.response))
    panel.querySelector('h3')!.focus()
  }

  /** Lists `rows` in the table, redrawn as the filter form changes; Open shows one in the panel. */
  function list<T>(rows: T[], where: EpisodeList<T>) {
    const render = () => {
      const f = new FormData(where.filters)
      const shown = rows.filter((row) => {
        const flags = where.flags(row)
        return where.matches(row, f) && (!f.get('wrong') || flags.wrong) && (!f.get('no_call') || flags.noCall) && (!f.get('format') || flags.format)
      })
      where.count.textContent = `${shown.length} of ${rows.length} rows${shown.length > LIMIT ? ` (first ${LIMIT} shown)` : ''}`
      fill(where.tbody, shown.slice(0, LIMIT).map((row) => {
        const flags = where.flags(row)
        const names = [flags.wrong && 'wrong', flags.noCall && 'no call', flags.format && 'format', flags.error && 'error']
        return el('tr', {}, where.cells(row), el('td', {}, names.filter(Boolean).join(', ')),
          el('td', {}, el('button', { type: 'button', onclick: () => show(where.panel, where.view(row)), 'aria-label': where.label(row) }, 'Open')))
      }))
    }
    where.filters.onchange = render
    render()
  }

  return { formatFailure, show, list }
}

export type Trajectories = ReturnType<typeof trajectoryKit>
