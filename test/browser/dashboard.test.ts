// The dashboard in headless Chromium against a running platform: sign in with a key, launch a job
// and watch its curve, a validation message next to its field, a checkpoint download, cancel, a tiny
// GRPO training job with its reward curve and a step's trajectories, a playground exchange, and an
// evaluation with its table, chart and trajectories. Screenshots go to test-artifacts/browser/.
import { execFileSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { insertCheckpoint } from '../../shared/db/checkpoints.ts'
import { type Platform, collectErrors, describeBrowser, launchBrowser, screenshot, sidewaysScroll, startPlatform } from './harness.ts'

describeBrowser('the dashboard', () => {
  let platform: Platform
  let browser: Browser
  let page: Page
  let errors: string[]
  let jobId: string
  let evalId: string

  beforeAll(async () => {
    ;[platform, browser] = await Promise.all([startPlatform(), launchBrowser()])
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    page.setDefaultTimeout(20_000)
    errors = collectErrors(page)
  })
  afterAll(async () => {
    await browser?.close()
    await platform?.close()
  })

  const api = async (path: string) => {
    const response = await fetch(`${platform.base}${path}`, { headers: { authorization: `Bearer ${platform.key}` } })
    return response.json() as Promise<any>
  }

  it('is public, and asks for a key that the API accepts', async () => {
    await page.goto(`${platform.base}/dashboard`)
    await expect(page.title()).resolves.toBe('Prompt-R1 dashboard')
    expect(await page.locator('#main-nav').isVisible()).toBe(false)
    await page.locator('#api-key').fill('sk-not-a-key-at-all')
    await page.getByRole('button', { name: 'Use this key' }).click()
    await page.locator('#key-form .form-error', { hasText: /API key/i }).waitFor()
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0)

    await page.locator('#api-key').fill(platform.key)
    await page.getByRole('button', { name: 'Use this key' }).click()
    // an empty platform says where to go from here
    await page.getByText(/^No training jobs yet\. To see one through to a chat, offline: Train the demo agent .*Estimate the cost before launching\.$/).waitFor()
    expect(await page.evaluate(() => Object.values(sessionStorage))).toEqual([platform.key])
    await screenshot(page, '01-jobs-empty')
  })

  it('shows every one of the API\'s validation messages at once, next to the fields they name', async () => {
    await page.getByRole('link', { name: 'New training job' }).first().click()
    // the published recipe is filled in
    await expect(page.getByLabel('Group size (answers per prompt)').inputValue()).resolves.toBe('5')
    await expect(page.getByLabel('Learning rate').inputValue()).resolves.toBe('0.000001')
    await page.getByLabel('Base model').fill('')
    await page.getByLabel('Learning rate').fill('fast')
    await page.getByRole('button', { name: 'Launch training job' }).click()
    const modelError = page.locator('#train-form [data-error-for="model"]')
    const rateError = page.locator('[data-error-for="method.grpo.hyperparameters.learning_rate"]')
    await modelError.filter({ hasText: "Missing required parameter: 'model'" }).waitFor()
    await rateError.filter({ hasText: 'Invalid' }).waitFor()
    await expect(page.getByLabel('Base model').getAttribute('aria-invalid')).resolves.toBe('true')
    await expect(page.getByLabel('Learning rate').getAttribute('aria-invalid')).resolves.toBe('true')

    await page.getByLabel('Base model').fill('hf:Qwen/Qwen3-0.6B')
    await page.getByRole('button', { name: 'Launch training job' }).click()
    await rateError.filter({ hasText: 'Invalid' }).waitFor()
    await expect(modelError.textContent()).resolves.toBe('')
    // the cost of the published recipe on a 4-row upload, before anything is launched
    await page.getByLabel('Learning rate').fill('0.000001')
    const upload = page.locator('#train-upload')
    await upload.getByLabel('Dataset file').setInputFiles({ name: 'four.jsonl', mimeType: 'application/json', buffer: Buffer.from(['1', '2', '3', '4'].map((n) => JSON.stringify({ question: `${n} + ${n}`, golds: [String(2 * Number(n))] })).join('\n')) })
    await upload.getByRole('button', { name: 'Upload' }).click()
    await upload.locator('.upload-result', { hasText: 'Uploaded four.jsonl: 4 rows' }).waitFor()
    // first without an environment, which this server does not have: said before launching
    await page.getByRole('button', { name: 'Estimate the cost' }).click()
    await page.locator('#train-form .form-error', { hasText: "Missing required parameter: 'environment'" }).waitFor()
    const environment = { base_url: page.locator('#train-form [data-param="environment.base_url"]'), model: page.locator('#train-form [data-param="environment.model"]') }
    await environment.base_url.fill('https://llm.example.com/v1')
    await environment.model.fill('m')
    await page.getByRole('button', { name: 'Estimate the cost' }).click()
    const estimate = page.locator('#train-estimate-result')
    await estimate.filter({ hasText: '64,000 episodes (640 a step, 3200.0 passes over 4 rows)' }).waitFor({ timeout: 5000 })
      .catch(async (error) => { throw new Error(`${error.message}: ${await page.locator('#train-form').innerText()}`) })
    await expect(estimate.textContent()).resolves.toContain('time: unknown')
    await environment.base_url.fill('')
    await environment.model.fill('')
    await screenshot(page, '02-training-form-validation')
    expect((await api('/v1/training/jobs')).data).toEqual([])
  })

  it('launches a job and draws its curve from the events as they arrive', async () => {
    await page.getByLabel('Method').selectOption('noop')
    await page.locator('#train-method-noop-steps').fill('12')
    await page.locator('#train-method-noop-step_ms').fill('250')
    await page.getByRole('button', { name: 'Launch training job' }).click()
    await page.waitForURL(/#\/jobs\/(?!new$)[\w-]+$/)
    jobId = page.url().split('/').pop()!
    const curve = page.locator('#job-curves figure[data-metric="progress"] polyline')
    // drawn while the job runs, then complete: one point per step
    await curve.waitFor()
    const pointsWhileRunning = (await curve.getAttribute('points'))!.split(' ').length
    await page.locator('#job-status', { hasText: 'succeeded' }).waitFor()
    await expect(curve.getAttribute('points').then((p) => p!.split(' ').length)).resolves.toBe(12)
    expect(pointsWhileRunning).toBeLessThan(12)
    await page.locator('#job-log td', { hasText: 'step 12/12' }).waitFor()
    await screenshot(page, '03-job-page')

    await page.getByRole('link', { name: 'Training jobs' }).click()
    const row = page.locator('#jobs-table tbody tr', { hasText: jobId })
    await row.locator('.status', { hasText: 'succeeded' }).waitFor()
    await expect(row.locator('.progress-label').textContent()).resolves.toBe('100% · 12')
  })

  it('downloads a checkpoint\'s merged and adapter files as one tar each, by a signed link', async () => {
    const weights = new Uint8Array(Array.from({ length: 3000 }, (_, i) => (i * 7) % 256))
    const files: Record<string, { path: string; blobKey: string; bytes: number; sha256: string }[]> = {}
    for (const [format, name] of [['merged', 'model.safetensors'], ['adapter', 'adapter_model.safetensors']]) {
      const blobKey = `projects/browser/checkpoints/${jobId}/${format}/${name}`
      files[format] = [{ path: name, blobKey, ...await platform.blobs.put(blobKey, weights) }]
    }
    const checkpoint = await insertCheckpoint(platform.database.db, {
      projectId: 'browser', jobId, step: 12, kind: 'merged', metrics: { reward_mean: 0.5 }, files,
    })
    await page.goto(`${platform.base}/dashboard#/jobs/${jobId}`)
    for (const format of ['merged', 'adapter']) {
      const downloaded = page.waitForEvent('download')
      await page.getByRole('button', { name: `Download ${format} checkpoint ${checkpoint.id}` }).click()
      const download = await downloaded
      expect(download.suggestedFilename()).toBe(`${checkpoint.id}-${format}.tar`)
      const saved = join(mkdtempSync(join(tmpdir(), 'browser-download-')), download.suggestedFilename())
      await download.saveAs(saved)
      const name = format === 'merged' ? 'model.safetensors' : 'adapter_model.safetensors'
      expect(execFileSync('tar', ['-tf', saved], { encoding: 'utf8' }).trim()).toBe(`${checkpoint.id}-${format}/${name}`)
      expect(new Uint8Array(execFileSync('tar', ['-xOf', saved]))).toEqual(weights)
    }
    await screenshot(page, '04-checkpoints')
  })

  it('cancels a running job', async () => {
    await page.goto(`${platform.base}/dashboard#/jobs/new`)
    await page.getByLabel('Method').selectOption('noop')
    await page.locator('#train-method-noop-steps').fill('1000')
    await page.locator('#train-method-noop-step_ms').fill('100')
    await page.getByRole('button', { name: 'Launch training job' }).click()
    await page.locator('#job-status', { hasText: 'running' }).waitFor()
    // what the worker is doing now, with how long it has been at it
    await page.locator('#job-phase', { hasText: /^steps \d+\/1,?000 · for \d+ s/ }).waitFor()
    await page.getByRole('button', { name: 'Cancel job' }).click()
    await page.locator('#job-status', { hasText: 'cancelled' }).waitFor()
    await page.locator('#job-log td', { hasText: 'Job cancelled' }).waitFor()
    await expect(page.locator('#job-phase').textContent()).resolves.toBe('')
  })

  it('trains a tiny agent with GRPO from the form: its reward curve and a step\'s trajectories', { timeout: 90_000 }, async () => {
    await page.goto(`${platform.base}/dashboard#/jobs/new`)
    const upload = page.locator('#train-upload')
    const rows = ['3 + 4', '9 - 2', '5 + 1', '2 + 2'].map((q) => JSON.stringify({ question: q, golds: [String(q.includes('+') ? Number(q[0]) + Number(q[4]) : Number(q[0]) - Number(q[4]))] })).join('\n')
    await upload.getByLabel('Dataset file').setInputFiles({ name: 'sums.jsonl', mimeType: 'application/json', buffer: Buffer.from(rows) })
    await upload.getByRole('button', { name: 'Upload' }).click()
    await upload.locator('.upload-result', { hasText: 'Uploaded sums.jsonl: 4 rows' }).waitFor()
    await page.getByLabel('Method').selectOption('grpo')
    await page.getByLabel('Base model').fill(platform.traineeDir)
    const hyperparameters = { group_size: '2', prompts_per_step: '2', steps: '3', learning_rate: '0.001', updates_per_step: '1', max_turns: '2', checkpoint_every: '3' }
    for (const [key, value] of Object.entries(hyperparameters)) await page.locator(`#train-method-grpo-hyperparameters-${key}`).fill(value)
    await page.locator('#train-environment-base_url').fill(platform.env.baseURL)
    await page.locator('#train-environment-model').fill('arith')
    await page.getByRole('button', { name: 'Launch training job' }).click()
    await page.waitForURL(/#\/jobs\/(?!new$)[\w-]+$/)
    const trainId = page.url().split('/').pop()!
    const job = await api(`/v1/training/jobs/${trainId}`)
    expect([job.kind, job.model, job.environment.base_url, job.environment.model]).toEqual(['train', platform.traineeDir, platform.env.baseURL, 'arith'])

    // the reward curve appears with the first step and ends with one point per step
    const curve = page.locator('#job-curves figure[data-metric="reward_mean"] polyline')
    await curve.waitFor({ timeout: 60_000 })
    await page.locator('#job-status .status-succeeded, #job-status .status-failed').waitFor({ timeout: 60_000 })
    expect((await api(`/v1/training/jobs/${trainId}`)).error).toBeNull()
    await expect(curve.getAttribute('points').then((p) => p!.split(' ').length)).resolves.toBe(3)
    // axes with ticks and the x label, a tooltip on every point
    const reward = page.locator('#job-curves figure[data-metric="reward_mean"]')
    expect(await reward.locator('text.tick').count()).toBeGreaterThanOrEqual(3)
    await expect(reward.locator('text.axis-label').textContent()).resolves.toBe('step')
    const rewards = (await api(`/v1/training/jobs/${trainId}/events?limit=1000`)).data.filter((e: any) => e.type === 'metrics').map((e: any) => e.data.reward_mean)
    await expect(reward.locator('circle title').allTextContents()).resolves.toEqual(rewards.map((r: number, i: number) => expect.stringMatching(new RegExp(`^step ${i + 1}: reward_mean `))))
    // smoothing keeps the raw curve, faint, under the smoothed one
    const controls = page.locator('#job-chart-controls')
    await controls.getByLabel('Smoothing').fill('0.6')
    await reward.locator('polyline.raw').waitFor()
    const [raw, smoothed] = await Promise.all([reward.locator('polyline.raw').getAttribute('points'), reward.locator('polyline:not(.raw)').getAttribute('points')])
    expect(raw!.split(' ')[0]).toBe(smoothed!.split(' ')[0]) // the first point is the same (debiased)
    await controls.getByLabel('Smoothing').fill('0')
    // a log scale where every value is positive
    await controls.getByLabel('Log scale').check()
    await page.locator('#job-curves figure[data-metric="response_tokens_mean"] figcaption', { hasText: 'log scale' }).waitFor()
    await controls.getByLabel('Log scale').uncheck()
    // another run overlaid: the noop job of the earlier test shares the progress metric
    await controls.getByLabel('Compare with').selectOption(jobId)
    await page.locator('#job-curves figure[data-metric="progress"] polyline.run-1').waitFor()
    await expect(page.locator('#job-curves figure[data-metric="progress"] polyline.run-1').getAttribute('points').then((p) => p!.split(' ').length)).resolves.toBe(12)
    await screenshot(page, '05-training-curves-compared')
    await controls.getByLabel('Compare with').selectOption('')

    // the latest step is shown; step 1's episodes, filtered and opened, are the API's
    const picker = page.locator('#job-rows-filters').getByLabel('Step')
    await expect.poll(() => picker.inputValue()).toBe('3')
    await expect(picker.locator('option').allTextContents()).resolves.toEqual(['1', '2', '3'])
    await page.locator('#job-rows-count', { hasText: '4 of 4 rows' }).waitFor()
    await picker.selectOption('1')
    const episodes = (await api(`/v1/training/jobs/${trainId}/trajectories?step=1`)).data
    await page.getByRole('button', { name: 'Open trajectory of step 1 episode 0' }).waitFor()
    const episodeFilters = page.locator('#job-rows-filters')
    await episodeFilters.getByLabel('Wrong answers').check()
    const wrong = episodes.filter((e: any) => e.answer_f1 < 1).length
    await page.locator('#job-rows-count', { hasText: `${wrong} of 4 rows` }).waitFor()
    await episodeFilters.getByLabel('Wrong answers').uncheck()
    await page.getByRole('button', { name: 'Open trajectory of step 1 episode 0' }).click()
    const trajectory = page.getByRole('article', { name: 'Trajectory' })
    await trajectory.locator('h3', { hasText: 'Step 1 · episode 0 (group 0)' }).waitFor()
    await expect(trajectory.locator('.turn').count()).resolves.toBe(episodes[0].turns.length)
    await expect(trajectory.locator('.turn h4').first().textContent()).resolves.toMatch(new RegExp(`^Turn 1 · ${episodes[0].turns[0].kind}( · its environment call)?$`))
    // each turn as it was written (shown open when it did not parse), its tags marked, and its call to the environment
    for (const [i, turn] of (episodes[0].turns as any[]).entries()) {
      const li = trajectory.locator('.turn').nth(i)
      const written = li.locator('.turn-part', { has: page.locator('h5, summary', { hasText: /^As written/ }) }).locator('pre')
      await expect(written.textContent()).resolves.toBe(turn.text === '' ? '(empty)' : turn.text)
      await expect(li.locator('mark.tag').count()).resolves.toBe((turn.text.match(/<\/?(think|interaction_prompt|interaction_response|answer)>/g) ?? []).length)
      if (turn.kind === 'invalid-call') await expect(li.locator('h5', { hasText: 'As written (it did not parse)' }).count()).resolves.toBe(1)
      await expect(li.locator('.environment-call').count()).resolves.toBe(turn.prompt !== null || turn.environment_answer !== null ? 1 : 0)
    }
    await expect(trajectory.locator('dd').first().textContent()).resolves.toBe(episodes[0].question)
    await screenshot(page, '07-training-trajectory')
  })

  it('plays a question through the agent and the large LLM, turn by turn', async () => {
    await page.getByRole('link', { name: 'Playground', exact: true }).click()
    await expect.poll(() => page.locator('#playground-model').inputValue()).toBe(platform.agentName)
    await page.getByLabel('Question').fill('What is 2 + 2?')
    const form = page.locator('#playground-form')
    await form.getByLabel('Base URL').fill(platform.env.baseURL)
    await form.getByLabel('Model').fill('arith')
    await form.getByLabel('Max new tokens per agent turn').fill('12')
    await page.getByRole('button', { name: 'Ask' }).click()
    await page.locator('#transcript .bubble.final').waitFor({ timeout: 45_000 })
    // greedy: the same request without streaming gives the same episode, which the transcript shows turn by turn
    const completion = await (await fetch(`${platform.base}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${platform.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: platform.agentName, max_tokens: 12, messages: [{ role: 'user', content: 'What is 2 + 2?' }],
        environment: { base_url: platform.env.baseURL, model: 'arith' },
      }),
    })).json() as any
    await expect(page.locator('#transcript .bubble.agent h4').allTextContents())
      .resolves.toEqual(completion.turns.map((_: unknown, i: number) => `Agent · turn ${i + 1}`))
    const calls = completion.turns.filter((t: any) => t.prompt !== null).length
    await expect(page.locator('#transcript .bubble.environment').count()).resolves.toBe(calls)
    await expect(page.locator('#transcript .bubble.final h4').textContent()).resolves.toBe(`Final answer · ended by ${completion.end_reason}`)
    await expect(page.locator('#transcript .final-answer').textContent()).resolves.toBe(completion.choices[0].message.content || '(empty)')
    await screenshot(page, '05-playground')
  })

  it('launches an evaluation and shows its table, chart and trajectories', { timeout: 120_000 }, async () => {
    await page.getByRole('link', { name: 'New evaluation' }).click()
    await page.getByRole('button', { name: 'Launch evaluation' }).click()
    await page.locator('[data-error-for="datasets"]', { hasText: 'datasets' }).waitFor()

    // an upload with a bad row is refused with the row named; a good one becomes a dataset
    const upload = page.locator('#eval-upload')
    await upload.getByLabel('Dataset file').setInputFiles({
      name: 'bad.jsonl', mimeType: 'application/json', buffer: Buffer.from('{"question": "What is 1 + 1?", "golds": ["2"]}\n{"question": "no golds"}\n'),
    })
    await upload.getByRole('button', { name: 'Upload' }).click()
    await upload.locator('[data-error-for="file"]', { hasText: 'row 2' }).waitFor()
    const arithmetic = [['3 * 4', '12'], ['10 - 7', '3'], ['6 + 9', '15'], ['8 / 2', '4']]
      .map(([q, a]) => JSON.stringify({ question: `What is ${q}?`, golds: [a] })).join('\n')
    await upload.getByLabel('Dataset file').setInputFiles({ name: 'arithmetic.jsonl', mimeType: 'application/json', buffer: Buffer.from(arithmetic) })
    await upload.getByRole('button', { name: 'Upload' }).click()
    await upload.locator('.upload-result', { hasText: 'Uploaded arithmetic.jsonl: 4 rows' }).waitFor()
    const fileId = await page.locator('#eval-file').inputValue()
    expect(fileId).toMatch(/^file-/)

    const form = page.locator('#eval-form')
    await form.getByLabel('gsm8k (math)').check()
    await form.getByLabel(/^cot:/).uncheck()
    await form.getByLabel('Base URL').fill(platform.env.baseURL)
    await form.getByLabel('Model', { exact: true }).first().fill('arith')
    await page.locator('#eval-agent-model').fill(platform.agentDir)
    await form.getByLabel('Max turns').fill('2')
    await form.getByLabel('Max new tokens per turn').fill('12')
    await form.getByLabel('Rows per dataset').fill('4')
    await form.getByLabel('Batch size').fill('4')
    await form.getByLabel('Bootstrap resamples').fill('200')
    await page.getByRole('button', { name: 'Launch evaluation' }).click()
    await page.waitForURL(/#\/evaluations\/(?!new$)[\w-]+$/)
    evalId = page.url().split('/').pop()!
    await page.locator('#eval-status .status-succeeded, #eval-status .status-failed').waitFor({ timeout: 90_000 })
    expect((await api(`/v1/evaluations/${evalId}`)).error).toBeNull()

    // the paper-style table: one line per mode and the paired difference, with intervals
    const table = page.locator('#eval-table table.results')
    await table.waitFor()
    // the same table as the API's markdown, cell for cell: sets as columns, one line per mode and the paired difference
    const results = await api(`/v1/evaluations/${evalId}/results`)
    const markdown = (results.table_markdown as string).split('\n').filter((line) => line.startsWith('| '))
      .map((line) => line.slice(2, -2).split(' | '))
    expect(markdown[0]).toEqual(['Method', 'gsm8k (EM)', `${fileId} (EM)`, 'Avg all'])
    const shown = await table.locator('tr').evaluateAll((trs) => trs.map((tr) => [...tr.children].map((cell) => cell.textContent)))
    expect(shown).toEqual(markdown)
    expect(shown.map((line) => line[0])).toEqual(['Method', 'Direct (environment alone)', 'Prompt-R1 agent', 'Agent − Direct (paired)'])
    await expect(page.locator('#eval-chart svg rect.bar').count()).resolves.toBe(4)

    // the rows, filtered as the API's rows say they should be
    const rows = (await (await fetch(`${platform.base}/v1/evaluations/${evalId}/results?format=jsonl`, {
      headers: { authorization: `Bearer ${platform.key}` },
    })).text()).trim().split('\n').map((line) => JSON.parse(line))
    expect(rows).toHaveLength(16)
    await page.locator('#rows-count', { hasText: '16 of 16 rows' }).waitFor()
    const rowFilters = page.locator('#rows-filters')
    await rowFilters.getByLabel('No call made').check()
    const noCall = rows.filter((r) => r.environment_calls === 0).length
    await page.locator('#rows-count', { hasText: `${noCall} of 16 rows` }).waitFor()
    await rowFilters.getByLabel('No call made').uncheck()
    await rowFilters.getByLabel('Wrong answers').check()
    const wrong = rows.filter((r) => r.scores.em !== 1 && r.scores.math_equal !== 1).length
    await page.locator('#rows-count', { hasText: `${wrong} of 16 rows` }).waitFor()
    await rowFilters.getByLabel('Wrong answers').uncheck()
    await rowFilters.getByLabel('Dataset').selectOption('gsm8k')
    await rowFilters.getByLabel('Mode').selectOption('agent')
    await page.locator('#rows-count', { hasText: '4 of 16 rows' }).waitFor()

    const agentRow = rows.find((r) => r.mode === 'agent' && r.row === 0)
    await page.getByRole('button', { name: 'Open trajectory of gsm8k row 0 agent' }).click()
    const trajectory = page.getByRole('article', { name: 'Trajectory' })
    await trajectory.locator('h3', { hasText: 'gsm8k row 0 · agent' }).waitFor()
    await expect(trajectory.locator('.turn').count()).resolves.toBe(agentRow.trajectory.length)
    await expect(trajectory.locator('.turn h4').first().textContent()).resolves.toMatch(new RegExp(`^Turn 1 · ${agentRow.trajectory[0].kind}( · its environment call)?$`))
    await expect(trajectory.locator('dd').first().textContent()).resolves.toBe(agentRow.question)
    await screenshot(page, '06-evaluation')

    const downloaded = page.waitForEvent('download')
    await page.getByRole('button', { name: 'Download rows (CSV)' }).click()
    expect((await downloaded).suggestedFilename()).toBe(`${evalId}.csv`)

    await page.getByRole('link', { name: 'Evaluations' }).click()
    await page.locator('#evals-table tbody tr', { hasText: evalId }).locator('.status', { hasText: 'succeeded' }).waitFor()
    // the list says how it scored: each mode's average over all the sets, in points
    const average = results.summary.averages.find((a: any) => a.group === 'all')
    const score = Object.entries(average.modes).map(([mode, e]: [string, any]) => `${mode} ${(100 * e.mean).toFixed(1)}`).join(' · ')
    await page.locator('#evals-table tbody tr', { hasText: evalId }).locator('td', { hasText: score }).waitFor()
  })

  it('fits a phone without sideways scrolling and keeps the main actions in view on a desktop', async () => {
    const views = ['#/jobs', `#/jobs/${jobId}`, '#/jobs/new', '#/evaluations', `#/evaluations/${evalId}`, '#/evaluations/new', '#/playground']
    const overflow: string[] = []
    for (const [width, height] of [[390, 844], [1440, 900]]) {
      await page.setViewportSize({ width, height })
      for (const view of views) {
        await page.goto(`${platform.base}/dashboard${view}`)
        await page.locator('main h2:visible').first().waitFor()
        await page.waitForTimeout(300) // the view's first data
        overflow.push(...await sidewaysScroll(page, width, view))
        // on a desktop every button of a row is inside the window, not past its right edge
        if (width < 1440) continue
        const clipped = await page.evaluate((w) => [...document.querySelectorAll('main td button, main td a.button')]
          .filter((b) => (b as HTMLElement).offsetParent !== null && b.getBoundingClientRect().right > w).length, width)
        if (clipped) overflow.push(`${view} at ${width} px: ${clipped} row actions past the edge`)
      }
      await screenshot(page, `08-jobs-${width}`)
    }
    expect(overflow).toEqual([])
    await page.setViewportSize({ width: 1280, height: 900 })
  })

  it('ran without script errors or blocked resources', () => {
    expect(errors, errors.join('\n')).toEqual([])
  })
})
