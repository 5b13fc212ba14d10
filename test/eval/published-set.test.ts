// An evaluation on real published sets (the first 16 rows of gsm8k and of triviaqa_ood, read from
// ../shared/datasets/prompt-r1) against the deterministic arithmetic environment, with a scripted
// agent that asks the environment to compute the gold answer and answers it (wrong on every 4th
// row). Checks the table, the CSV, resume after an interruption, failures as wrong answers, and
// that the response cache makes a rerun free.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type EvalAgent, type RunEvaluationInput, baselineAnswer, runEvaluation } from '../../gpu-worker/eval/run.ts'
import { loadEvalDatasets, makeEnvironment } from '../../gpu-worker/eval/setup.ts'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import { markdownTable, rowsToCsv } from '../../shared/eval/report.ts'
import { type EvalRow, describeDatasets, rowKey, sortRows } from '../../shared/eval/rows.ts'
import { BlobRowStore } from '../../shared/eval/store.ts'
import { summarize } from '../../shared/eval/summary.ts'
import { createEvaluationBody } from '../../shared/job-config.ts'
import { DirectoryResponseCache } from '../../shared/protocol/environment.ts'
import { HashedBagOfWordsEmbedder } from '../../shared/protocol/metrics.ts'
import { INFERENCE_OPTIONS } from '../../shared/protocol/options.ts'
import { type DeterministicArithmeticEnv, startDeterministicArithmeticEnv } from '../protocol/deterministic-arithmetic-env.ts'
import { qwen3Tokenizer } from '../protocol/qwen3-tokenizer.ts'
import { ScriptedPolicy } from '../protocol/scripted-policy.ts'

const call = (prompt: string) => `<think>Ask the large model.</think>\n<interaction_prompt>{"name": "prompt", "arguments": {"prompt": ${JSON.stringify(prompt)}}}</interaction_prompt>`
const answer = (text: string) => `<think>Done.</think>\n<answer>${text}</answer>`

let env: DeterministicArithmeticEnv
let dir: string
beforeAll(async () => {
  env = await startDeterministicArithmeticEnv()
  dir = mkdtempSync(join(tmpdir(), 'eval-published-'))
})
afterAll(() => env?.close())

async function setup(datasets: unknown[], extra: Record<string, unknown> = {}) {
  const config = createEvaluationBody.parse({
    datasets, environment: { base_url: env.baseURL, model: 'arithmetic', max_retries: 1, timeout_ms: 1000 },
    agent: { model: 'scripted' }, max_rows: 16, batch_size: 4, ...extra,
  })
  const evalDatasets = await loadEvalDatasets(config, async () => { throw new Error('no uploads here') })
  // the agent: compute the gold through the environment, then answer it; every 4th row it answers "0"
  const scripts: Record<string, string[]> = {}
  for (const dataset of evalDatasets) {
    for (const row of dataset.rows) {
      const gold = row.golds[0]
      scripts[row.question.split('\n')[0]] = [call(`${row.question.includes('[') ? row.question : gold} + 0`), answer(row.index % 4 === 3 ? '0' : gold)]
    }
  }
  const agent: EvalAgent = { policy: new ScriptedPolicy(await qwen3Tokenizer(), scripts), tokenizer: await qwen3Tokenizer(), options: INFERENCE_OPTIONS }
  return { config, evalDatasets, agent }
}

function input(s: Awaited<ReturnType<typeof setup>>, name: string, cacheName: string | null, signal?: AbortSignal, onProgress?: RunEvaluationInput['onProgress']): RunEvaluationInput {
  const cache = cacheName === null ? undefined : new DirectoryResponseCache(join(dir, cacheName))
  return {
    datasets: s.evalDatasets, modes: s.config.modes, environment: makeEnvironment(s.config.environment, { allowLoopback: true }, cache), agent: s.agent,
    embedder: new HashedBagOfWordsEmbedder(), store: new BlobRowStore(new LocalBlobStore(join(dir, 'blobs')), name),
    batchSize: s.config.batch_size, environmentErrorLimit: s.config.environment_error_limit, signal, onProgress,
  }
}

// what does not depend on timing
const stable = (rows: EvalRow[]) => rows.map(({ latency_ms: _, ...rest }) => rest)

describe('evaluation on published sets', () => {
  it('resumes after an interruption without re-running scored rows, and matches an uninterrupted run', async () => {
    const s = await setup(['triviaqa_ood', 'gsm8k'])
    expect(s.evalDatasets.map((d) => [d.label, d.rows.length, d.kind, d.group])).toEqual([
      ['triviaqa_ood', 16, 'qa', 'out-of-distribution'], ['gsm8k', 16, 'math', 'in-distribution']])

    const full = await runEvaluation(input(s, 'full', null))
    expect(full).toHaveLength(2 * 16 * 3)

    const abort = new AbortController()
    const seen: number[] = []
    const interrupted = runEvaluation(input(s, 'resumed', 'cache-a', abort.signal, (p) => {
      seen.push(p.done)
      if (p.done === 8) abort.abort(new Error('worker stopped'))
    }))
    await expect(interrupted).rejects.toThrow('worker stopped')
    expect(seen).toEqual([4, 8]) // direct then cot of the first batch were stored
    const stored = await new BlobRowStore(new LocalBlobStore(join(dir, 'blobs')), 'resumed').load()
    expect(stored.map((r) => r.mode)).toEqual([...Array(4).fill('direct'), ...Array(4).fill('cot')])

    const before = env.requests.length
    const progress: number[] = []
    const resumed = await runEvaluation(input(s, 'resumed', 'cache-a', undefined, (p) => { progress.push(p.done) }))
    expect(progress[0]).toBe(12) // the first thing run is the first batch's agent mode
    expect(progress.at(-1)).toBe(96)
    // 88 rows left: 28 direct + 28 cot calls, 32 agent calls (one per episode)
    expect(env.requests.length - before).toBe(28 + 28 + 32)
    const datasets = describeDatasets(s.config)
    expect(stable(sortRows(resumed, datasets))).toEqual(stable(sortRows(full, datasets)))
    expect(new Set(resumed.map(rowKey)).size).toBe(96)
  })

  it('scores, summarizes and prints the table and CSV', async () => {
    const s = await setup(['triviaqa_ood', 'gsm8k'])
    const datasets = describeDatasets(s.config)
    const rows = sortRows(await runEvaluation(input(s, 'report', null)), datasets)
    const gsm8k = rows.filter((r) => r.dataset === 'gsm8k')
    // the environment alone cannot read a word problem; the scripted agent gets 12 of 16
    const agent = gsm8k.filter((r) => r.mode === 'agent')
    expect(agent.map((r) => r.scores.em)).toEqual(Array.from({ length: 16 }, (_, i) => (i % 4 === 3 ? 0 : 1)))
    expect(agent.every((r) => r.turns === 2 && r.environment_calls === 1 && r.end_reason === 'answer' && r.agent_tokens > 0)).toBe(true)
    expect(agent[0].trajectory![0].environment_answer).toBe(`${agent[0].golds[0]} + 0 = ${agent[0].golds[0]}`)
    expect(agent[0].environment_prompt_tokens).toBeGreaterThan(0)
    const direct = gsm8k.filter((r) => r.mode === 'direct')
    expect(direct[0].response).toMatch(/^I can only compute arithmetic|=/)
    expect(direct[0].prediction).toBe(baselineAnswer(direct[0].response!))
    expect(direct.every((r) => r.scores.math_equal !== undefined && r.scores.similarity === undefined)).toBe(true)

    const summary = summarize({ rows, datasets, modes: s.config.modes, resamples: 1000 })
    const ood = summary.datasets[0]
    expect(ood.label).toBe('triviaqa_ood')
    const difference = summary.datasets[1].agent_minus_direct!.em!
    const directEm = summary.datasets[1].modes.direct!.metrics.em!.mean
    expect(difference.mean).toBeCloseTo(0.75 - directEm, 12)
    expect(difference.ci[0]).toBeGreaterThan(0)

    const table = markdownTable(summary)
    const lines = table.split('\n')
    expect(lines[0]).toBe('| Method | gsm8k (EM) | triviaqa_ood (EM) | Avg all |')
    expect(lines[4]).toMatch(/^\| Prompt-R1 agent \| 75\.0 \[\d+\.\d, \d+\.\d\] \| /)
    expect(lines[5]).toMatch(/^\| Agent − Direct \(paired\) \| \+\d+\.\d \[/)
    expect(table).toContain('16 rows per set')

    const csv = rowsToCsv(rows).split('\r\n')
    expect(csv[0]).toMatch(/^dataset,row,mode,prediction,golds,em,f1,substring,math_equal,similarity,/)
    expect(csv).toHaveLength(1 + 96 + 1) // header, rows, the final empty string after the last CRLF
    // the files keep the configured order: triviaqa_ood's 48 rows, then gsm8k's
    expect(csv[1]).toMatch(/^triviaqa_ood,0,direct,/)
    expect(csv[49]).toMatch(/^gsm8k,0,direct,/)
    expect(csv[51]).toMatch(new RegExp(`^gsm8k,0,agent,${agent[0].golds[0]},"\\[""${agent[0].golds[0]}""\\]",1,1,1,1,,`))
  })

  it('makes a rerun free through the response cache', async () => {
    const s = await setup(['gsm8k'], { max_rows: 8 })
    const first = await runEvaluation(input(s, 'cached-1', 'cache-b'))
    const before = env.requests.length
    const second = await runEvaluation(input(s, 'cached-2', 'cache-b'))
    expect(env.requests.length).toBe(before)
    expect(second.map((r) => r.prediction)).toEqual(first.map((r) => r.prediction))
    // a cached answer cost nothing
    expect(second.every((r) => r.environment_prompt_tokens === 0)).toBe(true)
  })

  it('counts environment failures and timeouts as wrong answers, per row, and goes on', async () => {
    const file = join(dir, 'faults.jsonl')
    writeFileSync(file, [
      { question: 'What is 2 + 3? [status 500 x9]', golds: ['5'] },
      { question: 'What is 4 * 5? [delay 3000]', golds: ['20'] },
      { question: 'What is 6 - 1?', golds: ['5'] },
    ].map((r) => JSON.stringify(r)).join('\n') + '\n')
    const s = await setup([{ path: file, name: 'faults', kind: 'math' }], { modes: ['direct', 'agent'] })
    const rows = sortRows(await runEvaluation(input(s, 'faults', null)), describeDatasets(s.config))
    const byKey = Object.fromEntries(rows.map((r) => [`${r.row}-${r.mode}`, r]))
    expect(byKey['0-direct']).toMatchObject({ error: '500 deterministic failure', prediction: '', scores: { em: 0, math_equal: 0 } })
    expect(byKey['1-direct'].error).toMatch(/timed out/i)
    expect(byKey['2-direct']).toMatchObject({ error: null, prediction: '6 - 1 = 5', scores: { math_equal: 0, substring: 1 } })
    // the agent's failed call becomes its tool content; the episode goes on and the row reports it
    expect(byKey['0-agent'].error).toBe('500 deterministic failure')
    expect(byKey['0-agent'].end_reason).toBe('answer')
    expect(byKey['2-agent'].error).toBeNull()
    const summary = summarize({ rows, datasets: describeDatasets(s.config), modes: s.config.modes, resamples: 200 })
    expect(summary.datasets[0].modes.direct!.errors).toBe(2)
    // the table says which rows failed: scored, never left out in silence
    expect(markdownTable(summary)).toMatch(/\nRows whose environment call failed, scored as wrong answers and not left out: faults direct 2\/3, faults agent [12]\/3\.\n/)
  })

  it('fails as environment_unavailable when every call failed, and before the first row when the environment does not answer', async () => {
    const file = join(dir, 'all-fail.jsonl')
    writeFileSync(file, ['What is 1 + 1? [status 500 x9]', 'What is 2 + 2? [status 500 x9]'].map((question) => JSON.stringify({ question, golds: ['2'] })).join('\n') + '\n')
    const s = await setup([{ path: file, name: 'all-fail', kind: 'math' }], { modes: ['direct'] })
    const failing = runEvaluation(input(s, 'all-fail', null))
    await expect(failing).rejects.toMatchObject({ code: 'environment_unavailable', message: 'every one of 2 rows that called the environment failed; the first: 500 deterministic failure' })
    // one failed row of two is a result, with the limit at its default (1); a limit of 0.4 fails it
    writeFileSync(file, ['What is 1 + 1? [status 500 x9]', 'What is 2 + 2?'].map((question) => JSON.stringify({ question, golds: ['2'] })).join('\n') + '\n')
    const half = await setup([{ path: file, name: 'half-fail', kind: 'math' }], { modes: ['direct'] })
    expect(await runEvaluation(input(half, 'half-fail', null))).toHaveLength(2)
    await expect(runEvaluation({ ...input(half, 'half-fail-strict', null), environmentErrorLimit: 0.4 }))
      .rejects.toMatchObject({ code: 'environment_unavailable', message: expect.stringMatching(/^1 \(more than 40%\) of 2 rows that called the environment failed/) })

    // nothing listens on port 1: the test call fails, and no row is played or stored
    const dead = await setup(['gsm8k'], { modes: ['direct'], environment: { base_url: 'http://127.0.0.1:1/v1', model: 'arithmetic', max_retries: 0, timeout_ms: 1000 } })
    const before = env.requests.length
    const store = new BlobRowStore(new LocalBlobStore(join(dir, 'blobs')), 'dead')
    await expect(runEvaluation({ ...input(dead, 'dead', null), store }))
      .rejects.toMatchObject({ code: 'environment_unavailable', message: expect.stringMatching(/^the environment LLM did not answer a test call: Connection error/) })
    expect(await store.load()).toEqual([])
    expect(env.requests.length).toBe(before)
  })
})
