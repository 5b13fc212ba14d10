// `prompt-r1 score`: scores a JSONL file line by line. Predictions mode reads
// {"prediction": string, "golds": [string]} and writes {"line", "em", "f1", "substring", "math_equal"};
// trajectories mode reads {"text": <decoded agent context>, "golds": [string]} and writes
// {"line", "format", "answer_f1", "reward", "answer"}. A bad line is reported with its number and
// field, and the other lines are still scored. Predictions mode also reads what the published
// eval_scores.py reads (a res.json list, or lines, of {"predicted_answer", "ground_truth"}) and
// scores it the same way, with a warning for each row whose form only that script accepts.
import { exactMatch, f1Score, mathEqual, substringMatch } from '../protocol/metrics.ts'
import { pyStr } from '../protocol/python.ts'
import { dualConstrainedReward } from '../protocol/reward.ts'

export type ScoreMode = 'predictions' | 'trajectories'

export interface ScoreReport {
  /** One JSON object per scored line, in file order. */
  scored: Record<string, number | string>[]
  /** "line N: field: reason[; field: reason]" for each line that could not be scored. */
  errors: string[]
  /** "line N: field: ..." for each line scored as eval_scores.py scores a form the strict reader refuses. */
  warnings: string[]
  /** Mean of each numeric score over the scored lines. */
  means: Record<string, number>
}

const TEXT_FIELD: Record<ScoreMode, string> = { predictions: 'prediction', trajectories: 'text' }

export function scoreJsonl(content: string, mode: ScoreMode): ScoreReport {
  const scored: ScoreReport['scored'] = []
  const errors: string[] = []
  const warnings: string[] = []
  const score = (line: number, value: unknown) => {
    const record = (typeof value === 'object' && value !== null && !Array.isArray(value) ? value : {}) as Record<string, unknown>
    const textField = TEXT_FIELD[mode]
    const published = mode === 'predictions' && !(textField in record) && !('golds' in record)
    // item.get(key, default): the default only for a missing key, not for null
    const text = published ? ('predicted_answer' in record ? record.predicted_answer : '') : record[textField]
    let golds = published ? ('ground_truth' in record ? record.ground_truth : []) : record.golds
    const problems: string[] = []
    if (typeof text !== 'string') problems.push(`${published ? 'predicted_answer' : textField}: must be a string`)
    if (published && !Array.isArray(golds)) {
      // eval_scores.py: `if not isinstance(golds, list): golds = [str(golds)]`
      warnings.push(`line ${line}: ground_truth: not a list; scored as [${JSON.stringify(pyStr(golds))}], as eval_scores.py does`)
      golds = [pyStr(golds)]
    }
    if (published && Array.isArray(golds) && golds.length === 0) warnings.push(`line ${line}: ground_truth: no gold answers; every score is 0, as in eval_scores.py`)
    if (!Array.isArray(golds) || (!published && golds.length === 0) || golds.some((gold) => typeof gold !== 'string')) {
      problems.push(published ? 'ground_truth: must hold strings only (eval_scores.py stops on it too)' : 'golds: must be a non-empty list of strings')
    }
    if (problems.length > 0) {
      errors.push(`line ${line}: ${problems.join('; ')}`)
      return
    }
    scored.push({ line, ...scoreOne(text as string, golds as string[], mode) })
  }
  // eval_scores.py's res.json: one JSON list; its items are numbered as lines from 1
  const list = mode === 'predictions' && content.trimStart().startsWith('[') ? parseList(content) : undefined
  if (list instanceof Error) errors.push(`line 1: file: not a valid JSON list (${list.message})`)
  else if (list) list.forEach((value, i) => score(i + 1, value))
  else {
    content.split('\n').forEach((raw, i) => {
      if (raw.trim() === '') return
      let value: unknown
      try {
        value = JSON.parse(raw)
      } catch (error) {
        errors.push(`line ${i + 1}: line: not valid JSON (${(error as Error).message})`)
        return
      }
      score(i + 1, value)
    })
  }
  return { scored, errors, warnings, means: means(scored) }
}

function parseList(content: string): unknown[] | Error {
  try {
    const value = JSON.parse(content)
    return Array.isArray(value) ? value : new Error('not a list')
  } catch (error) {
    return error as Error
  }
}

function scoreOne(text: string, golds: string[], mode: ScoreMode): Record<string, number | string> {
  if (mode === 'predictions' && golds.length === 0) return { em: 0, f1: 0, substring: 0, math_equal: 0 }
  if (mode === 'predictions') {
    return { em: exactMatch(text, golds), f1: f1Score(text, golds), substring: substringMatch(text, golds), math_equal: mathEqual(text, golds) }
  }
  const reward = dualConstrainedReward(text, golds)
  return { format: reward.format, answer_f1: reward.answerF1, reward: reward.reward, answer: reward.answer }
}

function means(scored: ScoreReport['scored']): Record<string, number> {
  const sums: Record<string, number> = {}
  for (const row of scored) {
    for (const [key, value] of Object.entries(row)) {
      if (typeof value === 'number' && key !== 'line') sums[key] = (sums[key] ?? 0) + value
    }
  }
  return Object.fromEntries(Object.entries(sums).map(([key, sum]) => [key, sum / scored.length]))
}
