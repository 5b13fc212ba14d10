// prompt-r1 chat and train as a user runs them, against a platform served over HTTP: a chat whose
// steps print as they happen, a training job created from a config file and followed to its end,
// and the exit statuses of a failed job, a refused body, an unreachable server and a missing key.
import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { type ServerType, serve } from '@hono/node-server'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import type { OpenDatabase } from '../../shared/db/database.ts'
import { DEMO_TRAINING_JOB } from '../../shared/demo.ts'
import { testApp } from '../helpers/app.ts'
import { describePostgres, freshPostgres } from '../helpers/databases.ts'
import { SCRIPTED_QUESTION, scriptedAgents } from '../helpers/scripted-agent.ts'
import { type DeterministicArithmeticEnv, startDeterministicArithmeticEnv } from '../protocol/deterministic-arithmetic-env.ts'
import { qwen3Tokenizer } from '../protocol/qwen3-tokenizer.ts'
import { freePort } from '../setup/postgres-cluster.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

describePostgres('prompt-r1 chat and train against a running platform', () => {
  let database: OpenDatabase
  let env: DeterministicArithmeticEnv
  let t: Awaited<ReturnType<typeof testApp>>
  let server: ServerType
  let base: string
  const dir = mkdtempSync(join(tmpdir(), 'cli-client-'))

  beforeAll(async () => {
    // the demo job's worker makes the sample agent here, not in the user's cache
    process.env.PROMPT_R1_CACHE = join(dir, 'cache')
    database = await freshPostgres()
    const [environment, tokenizer] = await Promise.all([startDeterministicArithmeticEnv(), qwen3Tokenizer()])
    env = environment
    t = await testApp(database, new LocalBlobStore(join(dir, 'blobs')), { PROMPT_R1_ALLOW_LOOPBACK_ENVIRONMENT: 'true' }, scriptedAgents(tokenizer, env.baseURL))
    await t.worker.start()
    const port = await freePort()
    server = serve({ fetch: t.app.fetch, port, hostname: '127.0.0.1' })
    base = `http://127.0.0.1:${port}`
  })
  afterAll(async () => {
    server?.close()
    await t?.worker.stop()
    await env?.close()
    await database?.close()
  })

  async function prompt_r1(args: string[], extraEnv: Record<string, string | undefined> = {}) {
    const childEnv: Record<string, string | undefined> = { ...process.env, PROMPT_R1_SERVER: base, PROMPT_R1_API_KEY: t.admin, ...extraEnv }
    for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k]
    try {
      const { stdout, stderr } = await promisify(execFile)(join(ROOT, 'node_modules/.bin/tsx'), ['bin/prompt-r1.ts', ...args], { cwd: ROOT, env: childEnv })
      return { code: 0, stdout, stderr }
    } catch (error) {
      const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string }
      return { code, stdout, stderr }
    }
  }

  it('chats: every step on stderr as it happens, the answer on stdout', async () => {
    const chat = await prompt_r1(['chat', '--env-base-url', env.baseURL, '--env-model', 'arithmetic', SCRIPTED_QUESTION])
    expect(chat.stderr).toContain('agent, turn 1: asks the large LLM: Compute 17 * 23.')
    expect(chat.stderr).toMatch(/large LLM \(\d+ ms\): 17 \* 23 = 391\n/)
    expect(chat.stderr).toContain('agent, turn 2: answers: 391')
    expect(chat.stderr).toContain('ended by answer')
    expect(chat).toMatchObject({ code: 0, stdout: '391\n' })
    // the model named, and one that is not there
    expect((await prompt_r1(['chat', '--model', 'scripted-agent', '--env-base-url', env.baseURL, '--env-model', 'arithmetic', SCRIPTED_QUESTION])).stdout).toBe('391\n')
    const missing = await prompt_r1(['chat', '--model', 'nope', '--env-base-url', env.baseURL, '--env-model', 'arithmetic', SCRIPTED_QUESTION])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/^prompt-r1 chat: POST \/v1\/chat\/completions answered 404: model_not_found/)
  })

  it('trains: creates the job from a config file, follows it, prints the finished job', async () => {
    const config = join(dir, 'noop.json')
    writeFileSync(config, JSON.stringify({ method: { type: 'noop', noop: { steps: 3, step_ms: 50 } } }))
    const train = await prompt_r1(['train', '--config', config])
    expect(train.code, train.stderr).toBe(0)
    expect(train.stderr).toMatch(/^created ftjob-\w+ \(queued\); the dashboard shows it at http/m)
    for (const step of [1, 2, 3]) expect(train.stderr).toContain(`[info] step ${step}/3 progress=`)
    expect(train.stderr).toContain('[info] Job succeeded')
    expect(JSON.parse(train.stdout)).toMatchObject({ object: 'fine_tuning.job', status: 'succeeded', kind: 'noop' })
    // a job that fails is exit status 1, its end on stderr
    writeFileSync(config, JSON.stringify({ method: { type: 'noop', noop: { steps: 3, step_ms: 1, fail_at_step: 1 } } }))
    const failed = await prompt_r1(['train', '--config', config])
    expect(failed.code).toBe(1)
    expect(JSON.parse(failed.stdout).status).toBe('failed')
    expect(failed.stderr).toContain('[error] Job failed: noop job told to fail at step 1')
    // a refused body: every problem, exit 1; a local dataset is uploaded first
    const rows = join(dir, 'sums.jsonl')
    writeFileSync(rows, `${JSON.stringify({ question: '1 + 1', golds: ['2'] })}\n`)
    const refused = await prompt_r1(['train', '--training-file', rows, '--steps', '2', '--model', 'Qwen/Qwen3-0.6B'])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/^uploaded .*sums\.jsonl: 1 rows \(file-\w+\)$/m)
    expect(refused.stderr).toMatch(/answered 400: model_not_allowed: Invalid 'model': .*; Missing required parameter: 'environment'/)
  })

  it('launches the demo: the demo\'s body, the flags on top of it', async () => {
    const demo = await prompt_r1(['train', '--demo', '--steps', '2', '--detach'])
    expect(demo.code, demo.stderr).toBe(0)
    const job = JSON.parse(demo.stdout)
    expect(job).toMatchObject({ model: 'builtin:arithmetic-agent', training_file: 'arithmetic', environment: { builtin: 'arithmetic' }, suffix: 'demo' })
    expect(job.method.grpo.hyperparameters).toMatchObject({ ...DEMO_TRAINING_JOB.method.grpo.hyperparameters, steps: 2 })
    await t.request('POST', `/v1/training/jobs/${job.id}/cancel`)
    expect((await prompt_r1(['train', '--demo', '--config', join(dir, 'noop.json')])).code).toBe(2)
    expect((await prompt_r1(['chat', '--env-builtin', 'arithmetic', '--env-model', 'm', 'hi'])).code).toBe(2)
  })

  it('says what is wrong: usage (2), no key (2), a server that is not there (1)', async () => {
    expect((await prompt_r1(['train', '--steps', 'many'])).code).toBe(2)
    const noKey = await prompt_r1(['chat', 'hi'], { PROMPT_R1_API_KEY: undefined })
    expect(noKey.code).toBe(2)
    expect(noKey.stderr).toMatch(/^prompt-r1 chat: set PROMPT_R1_API_KEY/)
    const away = await prompt_r1(['chat', 'hi'], { PROMPT_R1_SERVER: `http://127.0.0.1:${await freePort()}` })
    expect(away.code).toBe(1)
    expect(away.stderr).toMatch(/^prompt-r1 chat: cannot reach http:\/\/127\.0\.0\.1:\d+: .* \(is the platform running\? npm start\)/)
  })
})
