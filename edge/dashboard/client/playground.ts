// Client side: the playground: one question to the agent through the streaming chat API, each
// agent turn and each answer of the large LLM shown as it arrives (the chunks' `prompt_r1` field).
// Self-contained: see dom.ts.
import type { Kit, View } from './kit.ts'

export function playgroundView(kit: Kit) {
  const { dom, api, forms } = kit
  const { el, fill, byId, number } = dom
  let running: AbortController | undefined

  // a part the step has, even when empty (an agent turn with an empty answer says so)
  const part = (label: string, text: string | null | undefined) => (text === null || text === undefined ? null
    : el('div', { class: 'turn-part' }, el('h5', {}, label), el('pre', {}, text === '' ? '(empty)' : text)))

  function setUp() {
    const form = byId<HTMLFormElement>('playground-form')
    const transcript = byId('transcript')
    const stop = byId<HTMLButtonElement>('playground-stop')
    stop.onclick = () => running?.abort()
    forms.handle(form, async (body) => {
      const { question, environment, ...options } = body
      const request: Record<string, unknown> = { ...options, messages: [{ role: 'user', content: question ?? '' }], stream: true }
      // the server's environment LLM applies when the form names none
      if (environment?.builtin || environment?.base_url || environment?.model) request.environment = environment
      running = new AbortController()
      stop.disabled = false
      fill(transcript, el('li', { class: 'bubble user' }, el('h4', {}, 'You'), el('p', {}, question ?? '')))
      let answer = ''
      try {
        for await (const chunk of api.serverSentEvents('/v1/chat/completions', request, running.signal)) {
          if (chunk.error) throw new api.ApiError(400, chunk.error.code, chunk.error.message, chunk.error.param)
          answer += chunk.choices?.[0]?.delta?.content ?? ''
          const step = chunk.prompt_r1
          if (step?.type === 'agent_turn') {
            transcript.append(el('li', { class: 'bubble agent', 'data-turn': step.turn },
              el('h4', {}, `Agent · turn ${step.turn}`),
              part('Think', step.think), part('Prompt to the LLM', step.prompt), part('Answer', step.answer), part('Format error', step.error)))
          } else if (step?.type === 'environment_answer') {
            transcript.append(el('li', { class: 'bubble environment', 'data-turn': step.turn },
              el('h4', {}, `Large LLM · turn ${step.turn}`, el('small', {}, ` ${number(step.latency_ms)} ms`)),
              part('Answer', step.content), part('Error', step.error)))
          } else if (step?.type === 'done') {
            transcript.append(el('li', { class: 'bubble final' },
              el('h4', {}, `Final answer · ended by ${step.end_reason}`), el('p', { class: 'final-answer' }, answer || '(empty)')))
          }
        }
      } catch (error) {
        if (running.signal.aborted) transcript.append(el('li', { class: 'bubble final' }, 'Stopped.'))
        else throw error
      } finally {
        stop.disabled = true
        running = undefined
      }
    })
  }

  // the model picker: the served agents and merged checkpoints by name; #/playground?model=M&builtin=E
  // (a finished job's "Chat with it") picks a model and a built-in environment
  const enter: View = ([query]) => {
    const asked = new URLSearchParams(query ?? '')
    const input = byId<HTMLInputElement>('playground-model')
    if (asked.has('model')) input.value = asked.get('model')!
    if (asked.has('builtin')) byId<HTMLSelectElement>('playground-environment-builtin').value = asked.get('builtin')!
    api.get('/v1/models').then((models) => {
      fill(byId('playground-models'), models.data.map((m: any) => el('option', { value: m.id })))
      if (!input.value && models.data.length > 0) input.value = models.data[0].id
    }).catch(() => { /* no served agent: a checkpoint id can still be typed in */ })
    return () => running?.abort()
  }

  return { setUp, enter }
}
