#!/usr/bin/env -S npx tsx
// The prompt-r1 command line:
//   prompt-r1 score [--trajectories] FILE.jsonl     scores predictions or trajectories
//   prompt-r1 eval --dataset ... --env-base-url ...  runs an evaluation locally (docs/evaluation.md)
//   prompt-r1 datasets list|pull [NAME ...]         the published sets: where they are, getting them
//   prompt-r1 chat QUESTION / train --config JOB.json  a running platform's API (shared/cli/client.ts)
// score: per-line scores go to stdout as JSON lines, the summary and bad lines to stderr; exit
// status 0 when every line was scored, 1 when some lines were bad, 2 on a usage error.
// eval: the table goes to stdout, progress to stderr; exit status 0 when done, 1 when the
// environment did not answer or too many of its calls failed (environment_unavailable), 2 on a
// usage error, 130 when interrupted (run the same command again to resume).
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { scoreJsonl } from '../shared/cli/score.ts'
import { JobFailure } from '../shared/errors.ts'

const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version

const OVERVIEW = `usage: prompt-r1 COMMAND [options]   (npm run prompt-r1 -- COMMAND ...)
commands:
  eval       run an evaluation locally: direct, cot and the agent on published or own sets (docs/evaluation.md)
  score      score predictions or trajectories with the published metrics (docs/protocol.md)
  datasets   list the published sets and pull them from the Hugging Face hub (docs/protocol.md)
  chat       ask a running platform's agent, every step printed as it happens
  train      launch a training job on a running platform and follow it to its end
prompt-r1 COMMAND --help shows a command's options; prompt-r1 --version its version.
exit status: 0 done; 1 the work failed (bad lines, environment_unavailable, dataset_missing, a failed
pull, an error from the server, a job that did not succeed); 2 a usage error; 130 interrupted.`

const SCORE_USAGE = `usage: prompt-r1 score [--trajectories] FILE.jsonl
  predictions (default): lines {"prediction": string, "golds": [string]} -> {"line", "em", "f1", "substring", "math_equal"}
  --trajectories:        lines {"text": decoded agent context, "golds": [string]} -> {"line", "format", "answer_f1", "reward", "answer"}`

async function score(rest: string[]): Promise<number> {
  if (rest.includes('--help')) {
    console.log(SCORE_USAGE)
    return 0
  }
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

/** --help prints the usage (exit 0); a bare command shows what it takes (exit 2); else undefined. */
function usageAsked(rest: string[], usage: string): number | undefined {
  if (rest.includes('--help')) {
    console.log(usage)
    return 0
  }
  if (rest.length === 0) {
    console.error(usage)
    return 2
  }
  return undefined
}

async function evaluate(rest: string[]): Promise<number> {
  // loaded here: it brings the model engine, which `score` does not need
  const { EVAL_USAGE, UsageError, parseEvalArgs, runEvalCli } = await import('../gpu-worker/eval/cli.ts')
  const asked = usageAsked(rest, EVAL_USAGE)
  if (asked !== undefined) return asked
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

async function client(command: 'chat' | 'train', rest: string[]): Promise<number> {
  const { CHAT_USAGE, ClientError, TRAIN_USAGE, UsageError, runChatCli, runTrainCli } = await import('../shared/cli/client.ts')
  const usage = command === 'chat' ? CHAT_USAGE : TRAIN_USAGE
  const asked = usageAsked(rest, usage)
  if (asked !== undefined) return asked
  const abort = new AbortController()
  process.once('SIGINT', () => abort.abort(new Error('interrupted')))
  const io = { out: process.stdout, err: process.stderr }
  try {
    if (command === 'chat') {
      await runChatCli(rest, process.env, io, abort.signal)
      return 0
    }
    return (await runTrainCli(rest, process.env, io, abort.signal)) ? 0 : 1
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`prompt-r1 ${command}: ${error.message}\n${usage}`)
      return 2
    }
    if (error instanceof ClientError) {
      console.error(`prompt-r1 ${command}: ${error.message}`)
      return 1
    }
    if (abort.signal.aborted) return 130
    throw error
  }
}

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    ;(command === undefined ? console.error : console.log)(OVERVIEW)
    return command === undefined ? 2 : 0
  }
  if (command === '--version' || command === '-v') {
    console.log(`prompt-r1 ${VERSION}`)
    return 0
  }
  if (command === 'score') return score(rest)
  if (command === 'eval') return evaluate(rest)
  if (command === 'datasets') {
    const { DATASETS_USAGE, runDatasetsCli } = await import('../shared/cli/datasets.ts')
    if (rest.includes('--help')) {
      console.log(DATASETS_USAGE)
      return 0
    }
    const abort = new AbortController()
    process.once('SIGINT', () => abort.abort(new Error('interrupted')))
    return runDatasetsCli(rest, process.env, { out: process.stdout, err: process.stderr }, abort.signal)
  }
  if (command === 'chat' || command === 'train') return client(command, rest)
  console.error(`prompt-r1: unknown command ${JSON.stringify(command)}\n${OVERVIEW}`)
  return 2
}

process.exitCode = await main(process.argv.slice(2))
