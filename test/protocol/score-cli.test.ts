// `prompt-r1 score`, run as a process on files written by hand.
import { execFile } from 'node:child_process'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { stdlibPython } from '../helpers/python.ts'
import { feedbackText, toolContentForAnswer } from '../../shared/protocol/feedback.ts'
import { firstTurnText, userContentForQuestion } from '../../shared/protocol/template.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const TSX = join(ROOT, 'node_modules/.bin/tsx')

async function score(lines: string[], ...flags: string[]) {
  const file = join(await mkdtemp(join(tmpdir(), 'prompt-r1-score-')), 'input.jsonl')
  await writeFile(file, lines.join('\n') + '\n')
  try {
    const { stdout, stderr } = await promisify(execFile)(TSX, ['bin/prompt-r1.ts', 'score', ...flags, file], { cwd: ROOT })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string }
    return { code, stdout, stderr }
  }
}
const jsonLines = (text: string) => text.trim().split('\n').map((line) => JSON.parse(line))

describe('prompt-r1 score', () => {
  it('scores predictions, reports bad lines by number and field, and scores the rest', async () => {
    const { code, stdout, stderr } = await score([
      '{"prediction": "The Eiffel Tower!", "golds": ["eiffel tower", "tour eiffel"]}',
      '{"prediction": "18.0", "golds": ["18"]}',
      'this is not json',
      '{"prediction": 7, "golds": ["7"]}',
      '{"prediction": "", "golds": ["x"]}',
    ])
    expect(code).toBe(1)
    expect(jsonLines(stdout)).toEqual([
      { line: 1, em: 1, f1: 1, substring: 1, math_equal: 1 },
      { line: 2, em: 0, f1: 0, substring: 1, math_equal: 1 }, // "180" contains "18"
      { line: 5, em: 0, f1: 0, substring: 0, math_equal: 0 },
    ])
    expect(stderr).toMatch(/^line 3: line: not valid JSON/m)
    expect(stderr).toMatch(/^line 4: prediction: must be a string$/m)
    const summary = JSON.parse(stderr.trim().split('\n').at(-1)!)
    expect(summary).toEqual({ scored: 3, bad: 2, mean: { em: 1 / 3, f1: 1 / 3, substring: 2 / 3, math_equal: 2 / 3 } })
  })

  it('scores trajectories with the dual-constrained reward', async () => {
    const start = firstTurnText(userContentForQuestion('What is 6 * 7?'))
    const call = '<think>\nAsk.\n</think>\n\n<interaction_prompt>{"name": "prompt", "arguments": {"prompt": "6 * 7"}}</interaction_prompt><|im_end|>'
    const answer = 'It says 42.\n</think>\n\n<answer>42</answer><|im_end|>'
    const { code, stdout } = await score([
      JSON.stringify({ text: start + call + feedbackText(toolContentForAnswer('42'), false) + answer, golds: ['42'] }),
      JSON.stringify({ text: start + '<think>\nEasy.\n</think>\n\n<answer>42</answer><|im_end|>', golds: ['42'] }),
      JSON.stringify({ text: start + 'no idea<|im_end|>', golds: ['42'] }),
    ], '--trajectories')
    expect(code).toBe(0)
    expect(jsonLines(stdout)).toEqual([
      { line: 1, format: 1, answer_f1: 1, reward: 1, answer: '42' },
      { line: 2, format: 0.6, answer_f1: 1, reward: -0.4, answer: '42' },
      { line: 3, format: 0, answer_f1: 0, reward: -1, answer: '' },
    ])
  })

  it('prints its usage on a bad command line', async () => {
    const { code, stderr } = await score([], '--bogus-only')
    expect(code).toBe(2)
    expect(stderr).toMatch(/^usage: prompt-r1 score/)
  })

  const items = [
    { predicted_answer: 'The Eiffel Tower!', ground_truth: ['eiffel tower', 'tour eiffel'] },
    { predicted_answer: '42', ground_truth: 42 },
    { predicted_answer: 'None of them', ground_truth: null },
    { predicted_answer: 'an answer', ground_truth: 'the answer' },
    { ground_truth: ['x'] },
    { predicted_answer: 'b', ground_truth: [] },
    { predicted_answer: 'x 1e-05', ground_truth: 0.00001 },
  ]

  it('reads the published res.json as eval_scores.py does, with a warning per row it alone accepts', async () => {
    const { code, stdout, stderr } = await score([JSON.stringify(items)])
    expect(stderr).not.toMatch(/^line \d+: /m)
    expect(code).toBe(0)
    expect(stderr).toContain('warning: line 2: ground_truth: not a list; scored as ["42"], as eval_scores.py does')
    expect(stderr).toContain('warning: line 3: ground_truth: not a list; scored as ["None"], as eval_scores.py does')
    expect(stderr).toContain('warning: line 6: ground_truth: no gold answers; every score is 0, as in eval_scores.py')
    expect(jsonLines(stdout).map((r) => r.line)).toEqual([1, 2, 3, 4, 5, 6, 7])
  })

  const python = stdlibPython('eval_scores.py on Python')
  it.skipIf(!python)('scores res.json rows as the published functions do on Python', async () => {
    const ours = jsonLines((await score([JSON.stringify(items)])).stdout)
    const run = spawnSync(python!, [join(ROOT, 'test/reference/eval_scores_port.py')], { input: JSON.stringify(items), encoding: 'utf8' })
    expect(run.status, run.stderr).toBe(0)
    const published: [number, number, number][] = JSON.parse(run.stdout)
    // substring of an empty prediction is the one deliberate difference (1 there, 0 here: PROTOCOL.md)
    expect(ours.map((r, i) => [r.em, r.f1, items[i].predicted_answer ? r.substring : published[i][2]])).toEqual(published)
    expect(published[4][2]).toBe(1)
    expect(ours[4].substring).toBe(0)
  })

  it('refuses a res.json row that eval_scores.py cannot score either, and scores the others', async () => {
    const { code, stdout, stderr } = await score([JSON.stringify([{ predicted_answer: 7, ground_truth: ['7'] }, { predicted_answer: 'x', ground_truth: [1] }, { predicted_answer: 'x', ground_truth: ['x'] }])])
    expect(code).toBe(1)
    expect(stderr).toMatch(/^line 1: predicted_answer: must be a string$/m)
    expect(stderr).toMatch(/^line 2: ground_truth: must hold strings only \(eval_scores.py stops on it too\)$/m)
    expect(jsonLines(stdout)).toEqual([{ line: 3, em: 1, f1: 1, substring: 1, math_equal: 1 }])
  })
})
