// Client side: the API key and the router. The page holds every view's skeleton; the hash picks
// the view (#/jobs, #/jobs/ID, #/jobs/new, #/evaluations, #/evaluations/new, #/evaluations/ID,
// #/playground) and the view fills it from the API. Self-contained: see dom.ts.
import type { evaluationViews } from './evaluations.ts'
import type { jobViews } from './jobs.ts'
import type { Kit, View } from './kit.ts'
import type { playgroundView } from './playground.ts'

export function main(kit: Kit, jobs: ReturnType<typeof jobViews>, evaluations: ReturnType<typeof evaluationViews>, playground: ReturnType<typeof playgroundView>) {
  const { dom, api, forms } = kit
  const { byId } = dom

  const routes: [RegExp, string, View][] = [
    [/^#\/jobs\/new$/, 'view-train', jobs.withFiles],
    [/^#\/jobs\/([\w-]+)$/, 'view-job', jobs.page],
    [/^#\/jobs$/, 'view-jobs', jobs.list],
    [/^#\/evaluations\/new$/, 'view-eval-new', jobs.withFiles],
    [/^#\/evaluations\/([\w-]+)$/, 'view-eval', evaluations.page],
    [/^#\/evaluations$/, 'view-evals', evaluations.list],
    [/^#\/playground(?:\?(.*))?$/, 'view-playground', playground.enter],
  ]
  let leave: (() => void) | void

  function route() {
    leave?.()
    leave = undefined
    byId('page-message').textContent = ''
    const signedIn = api.key() !== null
    byId('key-status').hidden = !signedIn
    byId('key-form').hidden = signedIn
    byId('main-nav').hidden = !signedIn
    const hash = location.hash || '#/jobs'
    const match = routes.map(([pattern, id, view]) => ({ found: pattern.exec(hash), id, view })).find((r) => r.found)
    for (const section of document.querySelectorAll<HTMLElement>('main > section')) {
      section.hidden = !signedIn || section.id !== match?.id
    }
    byId('not-found').hidden = !signedIn || match !== undefined
    // the nav link for this view: the longest one the hash starts with (#/jobs/new over #/jobs)
    const links = [...document.querySelectorAll('#main-nav a')]
    const current = links.filter((link) => hash.startsWith(link.getAttribute('href')!))
      .sort((a, b) => b.getAttribute('href')!.length - a.getAttribute('href')!.length)[0]
    for (const link of links) {
      if (link === current) link.setAttribute('aria-current', 'page')
      else link.removeAttribute('aria-current')
    }
    if (signedIn && match) leave = match.view(match.found!.slice(1))
  }

  // the key is checked against the API before it is kept
  const keyForm = byId<HTMLFormElement>('key-form')
  forms.handle(keyForm, async (body) => {
    api.setKey(body.key ?? '')
    try {
      await api.get('/v1/training/jobs?limit=1')
    } catch (error) {
      api.forgetKey()
      throw error
    }
    keyForm.reset()
    route()
  })
  byId('forget-key').addEventListener('click', () => {
    api.forgetKey()
    route()
  })

  jobs.setUpDemo()
  jobs.setUpTrainingForm()
  jobs.setUpUploads()
  evaluations.setUpEvaluationForm()
  playground.setUp()
  window.addEventListener('hashchange', route)
  route()
}
