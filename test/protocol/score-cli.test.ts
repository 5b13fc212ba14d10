// `prompt-r1 score`, run as a process on files written by hand.
import { execFile } from 'node:child_process'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
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
})
