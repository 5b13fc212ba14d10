// The first run as a new user has it: `npm start` on an empty data folder (PGlite, a local blob
// folder, the in-process worker, an empty model cache), and the dashboard in Chromium: sign in with
// the key it printed, "Train the demo agent", its curves with axes, one of its episodes, the merged
// checkpoint downloaded as one archive, "Chat with it in the Playground" against the built-in
// arithmetic environment, no page wider than the window; then each page of that path at a phone's
// width, without sideways scrolling either. Screenshots go to test-artifacts/browser/first-run-*.png.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { type Process, killLaunched, launch } from '../helpers/processes.ts'
import { freePort } from '../setup/postgres-cluster.ts'
import { collectErrors, describeBrowser, launchBrowser, screenshot, sidewaysScroll } from './harness.ts'

describeBrowser('the first run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'first-run-'))
  let platform: Process
  let browser: Browser
  let page: Page
  let errors: string[]
  let base: string
  let key: string
  let jobId: string
  let playground: string

  beforeAll(async () => {
    const port = await freePort()
    base = `http://127.0.0.1:${port}`
    ;[platform, browser] = await Promise.all([
      launch('platform/embedded.ts', {
        PORT: String(port), PROMPT_R1_DATA_DIR: join(dir, 'data'), PROMPT_R1_CACHE: join(dir, 'cache'), DATABASE_URL: '', S3_BUCKET: '',
      }, 'listening on'),
      launchBrowser(),
    ])
    key = /admin API key \(shown once; store it now\): (pr1-\w+)/.exec(platform.output())![1]
    page = await browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true })
    page.setDefaultTimeout(20_000)
    errors = collectErrors(page)
  })
  afterAll(async () => {
    await browser?.close()
    killLaunched()
    rmSync(dir, { recursive: true, force: true })
  })

  const api = async (path: string, body?: unknown) => (await fetch(`${base}${path}`, {
    method: body ? 'POST' : 'GET', body: body ? JSON.stringify(body) : undefined,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
  })).json() as Promise<any>

  it('leads from an empty platform to the demo agent trained, inspected, downloaded and answering', async () => {
    await page.goto(base)
    expect(new URL(page.url()).pathname).toBe('/dashboard')
    await page.locator('#api-key').fill(key)
    await page.getByRole('button', { name: 'Use this key' }).click()
    await page.getByText(/^No training jobs yet\. To see one through to a chat, offline: Train the demo agent/).waitFor()
    const overflow = await sidewaysScroll(page, 1280, '#/jobs')
    await screenshot(page, 'first-run-01-empty')

    await page.getByRole('button', { name: 'Train the demo agent' }).click()
    await page.waitForURL(/#\/jobs\/ftjob-\w+$/)
    jobId = page.url().split('/').at(-1)!
    // what it is doing while it runs (making the sample agent, the episodes of a step, the update)
    await page.locator('#job-phase', { hasText: /\w/ }).waitFor()
    await page.locator('#job-status .status', { hasText: 'succeeded' }).waitFor({ timeout: 300_000 })
    const job = await api(`/v1/training/jobs/${jobId}`)
    expect(job).toMatchObject({ model: 'builtin:arithmetic-agent', training_file: 'arithmetic', status: 'succeeded' })
    await screenshot(page, 'first-run-02-trained')

    // the reward curve: axes with ticks and a label, one point per step, each the API's
    const steps = (await api(`/v1/training/jobs/${jobId}/events?limit=1000`)).data.filter((e: any) => e.type === 'metrics')
    expect(steps).toHaveLength(40)
    const reward = page.locator('#job-curves figure[data-metric="reward_mean"]')
    expect(await reward.locator('text.tick').count()).toBeGreaterThanOrEqual(3)
    await expect(reward.locator('text.axis-label').textContent()).resolves.toBe('step')
    await expect(reward.locator('circle title').count()).resolves.toBe(40)

    // the last step's first episode: the question copied into the call, the environment's answer
    await page.getByRole('button', { name: 'Open trajectory of step 40 episode 0' }).click()
    const trajectory = page.getByRole('article', { name: 'Trajectory' })
    const [episode] = (await api(`/v1/training/jobs/${jobId}/trajectories?step=40`)).data
    await expect(trajectory.locator('dd').first().textContent()).resolves.toBe(episode.question)
    await trajectory.locator('.environment-call', { hasText: `${episode.question} = ` }).first().waitFor()
    overflow.push(...await sidewaysScroll(page, 1280, `#/jobs/${jobId}`))
    await screenshot(page, 'first-run-03-trajectory')

    // the merged checkpoint as one tar: a Hugging Face folder
    const checkpoint = (await api(`/v1/training/jobs/${jobId}/checkpoints`)).data.find((c: any) => c.kind === 'merged')
    const downloaded = page.waitForEvent('download')
    await page.getByRole('button', { name: `Download merged checkpoint ${checkpoint.id}` }).click()
    const saved = join(dir, 'merged.tar')
    await (await downloaded).saveAs(saved)
    const names = execFileSync('tar', ['-tf', saved], { encoding: 'utf8' }).trim().split('\n')
    for (const file of ['config.json', 'model.safetensors', 'tokenizer.json']) expect(names).toContain(`${checkpoint.id}-merged/${file}`)

    // from the finished job to a chat with its model, the built-in environment chosen
    await page.getByRole('link', { name: 'Chat with it in the Playground' }).click()
    playground = page.url().slice(page.url().indexOf('#'))
    await expect.poll(() => page.locator('#playground-model').inputValue()).toBe(job.fine_tuned_model)
    await expect(page.locator('#playground-environment-builtin').inputValue()).resolves.toBe('arithmetic')
    await page.getByLabel('Question').fill('3 + 4')
    await page.getByRole('button', { name: 'Ask' }).click()
    await page.locator('#transcript .bubble.final').waitFor({ timeout: 60_000 })
    await page.locator('#transcript .bubble.environment', { hasText: '3 + 4 = 7' }).waitFor()
    // greedy: the API gives the same answer for the same question
    const completion = await api('/v1/chat/completions', { model: job.fine_tuned_model, messages: [{ role: 'user', content: '3 + 4' }], environment: { builtin: 'arithmetic' } })
    await expect(page.locator('#transcript .final-answer').textContent()).resolves.toBe(completion.choices[0].message.content || '(empty)')
    overflow.push(...await sidewaysScroll(page, 1280, playground))
    expect(overflow).toEqual([])
    await screenshot(page, 'first-run-04-playground')
  }, 420_000)

  it('fits a phone on every page of that path', async () => {
    await page.setViewportSize({ width: 390, height: 844 })
    const overflow: string[] = []
    for (const [i, view] of ['#/jobs', `#/jobs/${jobId}`, playground].entries()) {
      await page.goto(`${base}/dashboard${view}`)
      await page.locator('main h2:visible').first().waitFor()
      await page.waitForTimeout(500) // the view's first data
      overflow.push(...await sidewaysScroll(page, 390, view))
      await screenshot(page, `first-run-phone-${i + 1}`)
    }
    expect(overflow).toEqual([])
  })

  it('ran without script errors or blocked resources', () => {
    expect(errors, errors.join('\n')).toEqual([])
  })
}, { postgres: false })
