// Data sets made here rather than downloaded: `arithmetic`, the questions of the demo agent
// (builtin:arithmetic-agent, trained against the built-in arithmetic environment), scored as math.
// Jobs name them as they name the published sets (named.ts).
import { userContentForQuestion } from '../shared/protocol/template.ts'
import type { DatasetRow } from './read.ts'
import type { TaskKind } from './registry.ts'

/** Every "a + b" and "a - b" over digits whose result is one digit (0-9): 110 questions. */
export function arithmeticRows(): DatasetRow[] {
  const questions: [string, number][] = []
  for (let a = 0; a <= 9; a++) for (let b = 0; b <= 9; b++) {
    if (a + b <= 9) questions.push([`${a} + ${b}`, a + b])
    if (a - b >= 0) questions.push([`${a} - ${b}`, a - b])
  }
  return questions.map(([question, result], index) => ({ index, dataSource: 'arithmetic', question, content: userContentForQuestion(question), golds: [String(result)] }))
}

export interface BuiltinDataset { name: string; kind: TaskKind; rows: () => DatasetRow[] }

export const BUILTIN_DATASETS: BuiltinDataset[] = [{ name: 'arithmetic', kind: 'math', rows: arithmeticRows }]
