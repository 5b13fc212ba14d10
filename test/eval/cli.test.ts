// `prompt-r1 eval`, run as a process: the table on stdout, progress on stderr, the result files,
// a rerun that costs nothing (rows kept, answers cached), and usage errors.
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeTinyCheckpoint } from '../../gpu-worker/engine/tiny.ts'
import { type DeterministicArithmeticEnv, startDeterministicArithmeticEnv } from '../protocol/deterministic-arithmetic-env.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const TSX = join(ROOT, 'node_modules/.bin/tsx')

async function prompt_r1(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await promisify(execFile)(TSX, ['bin/prompt-r1.ts', ...args], { cwd: ROOT, env: { ...process.env, ...env } })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string }
    return { code, stdout, stderr }
  }
}

let env: DeterministicArithmeticEnv
const dir = mkdtempSync(join(tmpdir(), 'eval-cli-'))
beforeAll(async () => {
  env = await startDeterministicArithmeticEnv()
  makeTinyCheckpoint(join(dir, 'agent'), { seed: 3 })
})
afterAll(() => env?.close())

describe('prompt-r1 eval', () => {
  it('evaluates, writes the results, and reruns for free', async () => {
    const out = join(dir, 'out')
    const args = ['eval', '--dataset', 'gsm8k', '--env-base-url', env.baseURL, '--env-model', 'arithmetic', '--agent', join(dir, 'agent'),
      '--max-rows', '3', '--batch-size', '2', '--threads', '1', '--out', out]
    const cacheEnv = { PROMPT_R1_CACHE: join(dir, 'engine-cache'), OPENAI_API_KEY: 'sk-test' }
    const first = await prompt_r1(args, cacheEnv)
    expect(first.stderr).toContain('[##############################] 9/9  gsm8k agent')
    expect(first.code).toBe(0)
    expect(first.stdout.split('\n')[0]).toBe('| Method | gsm8k (EM) |')
    expect(first.stdout).toContain('3 rows per set')
    for (const file of ['summary.json', 'results.jsonl', 'results.csv', 'table.md']) expect(existsSync(join(out, file))).toBe(true)
    expect(readFileSync(join(out, 'table.md'), 'utf8')).toBe(first.stdout)
    expect(readFileSync(join(out, 'results.jsonl'), 'utf8').trim().split('\n')).toHaveLength(9)
    expect(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')).datasets[0].modes.direct.rows).toBe(3)
    expect(env.requests.length).toBeGreaterThan(0)

    const before = env.requests.length
    const second = await prompt_r1(args, cacheEnv)
    expect(second.code).toBe(0)
    expect(second.stdout).toBe(first.stdout)
    expect(env.requests.length).toBe(before)
  })

  it('exits 1 with one line when the environment does not answer', async () => {
    const run = await prompt_r1(['eval', '--dataset', 'gsm8k', '--env-base-url', 'http://127.0.0.1:1/v1', '--env-model', 'arithmetic',
      '--modes', 'direct', '--max-rows', '2', '--out', join(dir, 'dead')], { OPENAI_API_KEY: 'sk-test' })
    expect(run.code).toBe(1)
    expect(run.stderr.trim().split('\n').at(-1)).toMatch(/^prompt-r1 eval: environment_unavailable: the environment LLM did not answer a test call: /)
    expect(run.stderr).not.toContain('    at ')
  })

  it('exits 1 naming a published set this machine does not have, where it looked and the command that gets it', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'no-datasets-'))
    const run = await prompt_r1(['eval', '--dataset', 'gsm8k', '--env-base-url', env.baseURL, '--env-model', 'm', '--out', join(dir, 'missing')], { PROMPT_R1_DATASETS_DIR: empty })
    expect(run.code).toBe(1)
    expect(run.stderr.trim().split('\n').at(-1)).toBe(
      `prompt-r1 eval: dataset_missing: the published dataset "gsm8k" is not here: looked for eval_data/gsm8k.parquet in ${empty}; get it with: npm run prompt-r1 -- datasets pull gsm8k`)
  })

  it('reports usage errors with exit status 2', async () => {
    const bad = await prompt_r1(['eval', '--dataset', 'gsm9k', '--env-base-url', env.baseURL, '--env-model', 'm'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/gsm9k/)
    const noAgent = await prompt_r1(['eval', '--dataset', 'gsm8k', '--env-base-url', env.baseURL, '--env-model', 'm', '--modes', 'agent'])
    expect(noAgent.code).toBe(2)
    expect(noAgent.stderr).toMatch(/^prompt-r1 eval: agent: the 'agent' mode needs the agent/)
    expect((await prompt_r1(['eval', '--frobnicate'])).stderr).toMatch(/unknown argument --frobnicate/)
    const protocol = await prompt_r1(['eval', '--dataset', 'gsm8k', '--env-base-url', env.baseURL, '--env-model', 'm', '--agent', join(dir, 'agent'), '--protocol', 'vllm'])
    expect(protocol.code).toBe(2)
    expect(protocol.stderr).toMatch(/^prompt-r1 eval: agent\.protocol: .*"training"\|"inference"\|"batch-inference"/)
    // the first test's rows came from another environment model: they must not be reused
    const other = await prompt_r1(['eval', '--dataset', 'gsm8k', '--env-base-url', env.baseURL, '--env-model', 'other', '--out', join(dir, 'out')])
    expect(other.code).toBe(2)
    expect(other.stderr).toMatch(/holds an evaluation of another environment or agent/)
    const help = await prompt_r1(['eval', '--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/^usage: prompt-r1 eval --dataset/)
  })
})
