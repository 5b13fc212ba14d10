#!/usr/bin/env -S npx tsx
// The prompt-r1 command line:
//   prompt-r1 score [--trajectories] FILE.jsonl     scores predictions or trajectories
//   prompt-r1 eval --dataset ... --env-base-url ...  runs an evaluation locally (docs/evaluation.md)
//   prompt-r1 datasets list|pull [NAME ...]         the published sets: where they are, getting them
// score: per-line scores go to stdout as JSON lines, the summary and bad lines to stderr; exit
// status 0 when every line was scored, 1 when some lines were bad, 2 on a usage error.
// eval: the table goes to stdout, progress to stderr; exit status 0 when done, 1 when the
// environment did not answer or too many of its calls failed (environment_unavailable), 2 on a
// usage error, 130 when interrupted (run the same command again to resume).
import { readFile } from 'node:fs/promises'
import { scoreJsonl } from '../shared/cli/score.ts'
import { JobFailure } from '../shared/errors.ts'

const SCORE_USAGE = `usage: prompt-r1 score [--trajectories] FILE.jsonl
  predictions (default): lines {"prediction": string, "golds": [string]} -> {"line", "em", "f1", "substring", "math_equal"}
  --trajectories:        lines {"text": decoded agent context, "golds": [string]} -> {"line", "format", "answer_f1", "reward", "answer"}`

async function score(rest: string[]): Promise<number> {
  const trajectories = rest.includes('--trajectories')
  const files = rest.filter((arg) => arg !== '--trajectories')
  if (files.length !== 1 || files[0].startsWith('-')) {
    console.error(SCORE_USAGE)
    return 2
  }
  const report = scoreJsonl(await readFile(files[0], 'utf8'), trajectories ? 'trajectories' : 'predictions')
  for (const row of report.scored) process.stdout.write(JSON.stringify(row) + '\n')
  for (const error of report.errors) console.error(error)
  for (const warning of report.warnings) console.error(`warning: ${warning}`)
  console.error(JSON.stringify({ scored: report.scored.length, bad: report.errors.length, mean: report.means }))
  return report.errors.length > 0 ? 1 : 0
}

async function evaluate(rest: string[]): Promise<number> {
  // loaded here: it brings the model engine, which `score` does not need
  const { EVAL_USAGE, UsageError, parseEvalArgs, runEvalCli } = await import('../gpu-worker/eval/cli.ts')
  if (rest.includes('--help')) {
    console.log(EVAL_USAGE)
    return 0
  }
  let options
  try {
    options = parseEvalArgs(rest, process.env)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    console.error(`prompt-r1 eval: ${error.message}\n${EVAL_USAGE}`)
    return 2
  }
  const abort = new AbortController()
  process.once('SIGINT', () => abort.abort(new Error('interrupted')))
  try {
    process.stdout.write(await runEvalCli(options, process.stderr, abort.signal))
    console.error(`results in ${options.out}/ (summary.json, results.jsonl, results.csv, table.md)`)
    return 0
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`prompt-r1 eval: ${error.message}`)
      return 2
    }
    if (error instanceof JobFailure) {
      console.error(`prompt-r1 eval: ${error.code}: ${error.message}`)
      return 1
    }
    if (!abort.signal.aborted) throw error
    console.error(`\ninterrupted; the rows scored so far are kept in ${options.out}/rows: run the same command again to resume`)
    return 130
  }
}

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args
  if (command === 'score') return score(rest)
  if (command === 'eval') return evaluate(rest)
  if (command === 'datasets') {
    const { runDatasetsCli } = await import('../shared/cli/datasets.ts')
    const abort = new AbortController()
    process.once('SIGINT', () => abort.abort(new Error('interrupted')))
    return runDatasetsCli(rest, process.env, { out: process.stdout, err: process.stderr }, abort.signal)
  }
  console.error(`${SCORE_USAGE}\nusage: prompt-r1 eval --dataset NAME|PATH --env-base-url URL --env-model MODEL [--agent FOLDER] ... (prompt-r1 eval --help)\nusage: prompt-r1 datasets list|pull [NAME ...]`)
  return 2
}

process.exitCode = await main(process.argv.slice(2))
