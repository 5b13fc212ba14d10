// Client side: the trajectory viewer, shared by an evaluation's scored rows and a training step's
// episodes: a table of episodes filtered by wrong answers, no call made and format failures (plus
// the caller's own filters), and one episode's every turn. Self-contained: see dom.ts.
import type { Child, Dom } from './dom.ts'

/** A turn as both evaluation rows and training episodes store it (training adds the call's costs). */
export interface ViewedTurn {
  kind: string; text?: string; think: string; prompt: string | null; environment_answer: string | null; answer: string | null; error: string | null
  tool_content?: string | null; environment_usage?: { prompt_tokens: number; completion_tokens: number } | null; environment_latency_ms?: number | null
}

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

  // the protocol's tags, marked in a turn's raw text
  const TAGS = /(<\/?(?:think|interaction_prompt|interaction_response|answer)>)/

  /** Text with the protocol's tags marked; an empty text says so (an empty think or answer is worth seeing). */
  const tagged = (text: string): Child[] => (text === '' ? ['(empty)'] : text.split(TAGS).map((part, i) => (i % 2 ? el('mark', { class: 'tag' }, part) : part)))

  function show(panel: HTMLElement, episode: EpisodeView) {
    const block = (label: string, text: string | null | undefined, open = true) => (text == null ? null
      : open ? el('div', { class: 'turn-part' }, el('h5', {}, label), el('pre', {}, tagged(text)))
        : el('details', { class: 'turn-part' }, el('summary', {}, label), el('pre', {}, tagged(text))))
    // a call turn's exchange with the environment: what was asked, what came back, what the agent saw
    const call = (turn: ViewedTurn, i: number) => {
      if (turn.prompt === null && turn.environment_answer === null) return null
      const costs = [
        turn.environment_latency_ms == null ? null : `${Math.round(turn.environment_latency_ms)} ms`,
        turn.environment_usage ? `${turn.environment_usage.prompt_tokens} + ${turn.environment_usage.completion_tokens} tokens` : null,
      ].filter(Boolean).join(', ')
      return el('section', { class: 'environment-call', id: `${panel.id}-turn-${i + 1}-call` },
        el('h5', {}, `Environment call${costs ? ` (${costs})` : ''}`),
        block('Prompt sent', turn.prompt), block('Environment answer', turn.environment_answer),
        turn.tool_content != null && turn.tool_content !== turn.environment_answer ? block('Given to the agent as <interaction_response>', turn.tool_content) : null)
    }
    panel.hidden = false
    fill(panel,
      el('h3', { tabindex: -1 }, episode.title),
      el('dl', { class: 'meta' }, episode.meta.map(([term, value]) => [el('dt', {}, term), el('dd', {}, value)])),
      episode.turns
        ? el('ol', { class: 'turns' }, episode.turns.map((turn, i) => el('li', { class: `turn turn-${turn.kind}` },
          el('h4', {}, `Turn ${i + 1} · ${turn.kind}`,
            turn.prompt !== null || turn.environment_answer !== null
              ? [' · ', el('button', { type: 'button', class: 'link', onclick: () => panel.querySelector(`#${panel.id}-turn-${i + 1}-call`)?.scrollIntoView({ block: 'nearest' }) }, 'its environment call')]
              : null),
          // a turn that did not parse is shown as it was written; the others' raw text a click away
          turn.kind === 'invalid-call' ? block('As written (it did not parse)', turn.text) : null,
          block('Think', turn.think), call(turn, i), block('Final answer', turn.answer), block('Error', turn.error),
          turn.kind === 'invalid-call' ? null : block('As written', turn.text, false))))
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
