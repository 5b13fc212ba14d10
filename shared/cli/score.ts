// `prompt-r1 score`: scores a JSONL file line by line. Predictions mode reads
// {"prediction": string, "golds": [string]} and writes {"line", "em", "f1", "substring", "math_equal"};
// trajectories mode reads {"text": <decoded agent context>, "golds": [string]} and writes
// {"line", "format", "answer_f1", "reward", "answer"}. A bad line is reported with its number and
// field, and the other lines are still scored.
import { exactMatch, f1Score, mathEqual, substringMatch } from '../protocol/metrics.ts'
import { dualConstrainedReward } from '../protocol/reward.ts'

export type ScoreMode = 'predictions' | 'trajectories'

export interface ScoreReport {
  /** One JSON object per scored line, in file order. */
  scored: Record<string, number | string>[]
  /** "line N: field: reason[; field: reason]" for each line that could not be scored. */
  errors: string[]
  /** Mean of each numeric score over the scored lines. */
  means: Record<string, number>
}

const TEXT_FIELD: Record<ScoreMode, string> = { predictions: 'prediction', trajectories: 'text' }

export function scoreJsonl(content: string, mode: ScoreMode): ScoreReport {
  const scored: ScoreReport['scored'] = []
  const errors: string[] = []
  content.split('\n').forEach((raw, i) => {
    const line = i + 1
    if (raw.trim() === '') return
    let value: unknown
    try {
      value = JSON.parse(raw)
    } catch (error) {
      errors.push(`line ${line}: line: not valid JSON (${(error as Error).message})`)
      return
    }
    const record = (typeof value === 'object' && value !== null && !Array.isArray(value) ? value : {}) as Record<string, unknown>
    const textField = TEXT_FIELD[mode]
    const text = record[textField]
    const golds = record.golds
    const problems: string[] = []
    if (typeof text !== 'string') problems.push(`${textField}: must be a string`)
    if (!Array.isArray(golds) || golds.length === 0 || golds.some((gold) => typeof gold !== 'string')) {
      problems.push('golds: must be a non-empty list of strings')
    }
    if (problems.length > 0) {
      errors.push(`line ${line}: ${problems.join('; ')}`)
      return
    }
    scored.push({ line, ...scoreOne(text as string, golds as string[], mode) })
  })
  return { scored, errors, means: means(scored) }
}

function scoreOne(text: string, golds: string[], mode: ScoreMode): Record<string, number | string> {
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
