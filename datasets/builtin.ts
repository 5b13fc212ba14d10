// Data sets made here rather than downloaded, named like the published ones (a training job's
// training_file, an evaluation's dataset): `arithmetic`, the questions of the demo agent
// (builtin:arithmetic-agent, trained against the built-in arithmetic environment); scored as math.
import { userContentForQuestion } from '../shared/protocol/template.ts'
import type { DatasetRow } from './read.ts'

/** Every "a + b" and "a - b" over digits whose result is one digit (0-9): 110 questions. */
export function arithmeticRows(): DatasetRow[] {
  const questions: [string, number][] = []
  for (let a = 0; a <= 9; a++) for (let b = 0; b <= 9; b++) {
    if (a + b <= 9) questions.push([`${a} + ${b}`, a + b])
    if (a - b >= 0) questions.push([`${a} - ${b}`, a - b])
  }
  return questions.map(([question, result], index) => ({ index, dataSource: 'arithmetic', question, content: userContentForQuestion(question), golds: [String(result)] }))
}

const ROWS: Record<string, () => DatasetRow[]> = { arithmetic: arithmeticRows }

export const BUILTIN_DATASETS = Object.keys(ROWS)

export const isBuiltinDataset = (name: string) => Object.hasOwn(ROWS, name)

export function builtinDatasetRows(name: string): DatasetRow[] {
  if (!isBuiltinDataset(name)) throw new Error(`no built-in dataset "${name}"; built in: ${BUILTIN_DATASETS.join(', ')}`)
  return ROWS[name]()
}
