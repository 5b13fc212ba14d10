#!/usr/bin/env -S npx tsx
// The prompt-r1 command line. One command today:
//   prompt-r1 score [--trajectories] FILE.jsonl
// Per-line scores go to stdout as JSON lines, the summary and bad lines to stderr. Exit status: 0
// when every line was scored, 1 when some lines were bad, 2 on a usage error.
import { readFile } from 'node:fs/promises'
import { scoreJsonl } from '../shared/cli/score.ts'

const USAGE = `usage: prompt-r1 score [--trajectories] FILE.jsonl
  predictions (default): lines {"prediction": string, "golds": [string]} -> {"line", "em", "f1", "substring", "math_equal"}
  --trajectories:        lines {"text": decoded agent context, "golds": [string]} -> {"line", "format", "answer_f1", "reward", "answer"}`

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args
  if (command !== 'score') {
    console.error(USAGE)
    return 2
  }
  const trajectories = rest.includes('--trajectories')
  const files = rest.filter((arg) => arg !== '--trajectories')
  if (files.length !== 1 || files[0].startsWith('-')) {
    console.error(USAGE)
    return 2
  }
  const report = scoreJsonl(await readFile(files[0], 'utf8'), trajectories ? 'trajectories' : 'predictions')
  for (const row of report.scored) process.stdout.write(JSON.stringify(row) + '\n')
  for (const error of report.errors) console.error(error)
  console.error(JSON.stringify({ scored: report.scored.length, bad: report.errors.length, mean: report.means }))
  return report.errors.length > 0 ? 1 : 0
}

process.exitCode = await main(process.argv.slice(2))
