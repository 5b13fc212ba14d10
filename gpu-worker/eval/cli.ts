// `prompt-r1 eval`: the eval job's code run locally. Scored rows are kept in OUT/rows (the same
// JSONL parts a job keeps in the blob store), so an interrupted run resumes when the same command
// is run again; environment answers are cached (OUT/cache unless --cache names another folder), so
// a rerun calls nothing. At the end
// it writes OUT/summary.json, OUT/results.jsonl, OUT/results.csv and OUT/table.md and prints the table.
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { basename, extname, join } from 'node:path'
import { PUBLISHED_DATASETS } from '../../datasets/registry.ts'
import { loadSimilarityEmbedder } from './embedder.ts'
import { runEvaluation } from './run.ts'
import { type LoadedAgent, loadAgent, loadEvalDatasets, makeEnvironment } from './setup.ts'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import { markdownTable, rowsToCsv, rowsToJsonl } from '../../shared/eval/report.ts'
import { describeDatasets, sortRows } from '../../shared/eval/rows.ts'
import { BlobRowStore } from '../../shared/eval/store.ts'
import { summarize } from '../../shared/eval/summary.ts'
import { TASK_KINDS, createEvaluationBody, type EvaluationConfig } from '../../shared/job-config.ts'
import { DirectoryResponseCache } from '../../shared/protocol/environment.ts'
import { loadConfig } from '../../shared/config.ts'
import { progressLine } from '../../shared/cli/progress.ts'

export const EVAL_USAGE = `usage: prompt-r1 eval --dataset NAME|PATH[:KIND] [--dataset ...] --env-base-url URL --env-model MODEL [options]
  --dataset         a published set (${PUBLISHED_DATASETS.filter((d) => d.split.startsWith('eval-')).map((d) => d.name).join(', ')})
                    or a .jsonl/.parquet file; KIND (qa, math, long-form) picks a file's metrics (default qa)
  --env-base-url    the environment's OpenAI-compatible endpoint (e.g. https://api.openai.com/v1)
  --env-model       the environment model (e.g. gpt-4o-mini)
  --env-api-key-var the variable holding its API key (default OPENAI_API_KEY; unset: no key)
  --env-temperature, --env-max-tokens   sent with every environment call (default: the provider's)
  --agent           the agent: a checkpoint folder or hf:owner/name (needed for the agent mode)
  --modes           comma-separated among direct,cot,agent (default: all three; without --agent: direct,cot)
  --max-rows N      the first N rows of each dataset
  --batch-size N    rows run together (default 8)
  --protocol NAME   the agent's protocol: training (default), inference or batch-inference (docs/protocol.md)
  --temperature T   the agent's sampling temperature (default: the protocol's; training: 0, greedy); --seed S
  --threads N       the agent engine's threads
  --similarity-model M  the long-form sets' embedding model: a folder, a hub id or 'hashed'
                    (default PROMPT_R1_SIMILARITY_MODEL, else sentence-transformers/all-MiniLM-L6-v2)
  --out DIR         where rows, cache and results go (default eval-out); rerun with the same DIR to resume
  --cache DIR       where environment answers are cached (default OUT/cache); share it between runs to rerun for free
  --no-cache        do not cache environment answers`

export class UsageError extends Error {}

export interface EvalCliOptions {
  config: EvaluationConfig
  out: string
  /** the response cache's folder */
  cacheDir: string
  threads?: number
  similarityModel?: string
}

const VALUE_FLAGS = ['--dataset', '--env-base-url', '--env-model', '--env-api-key-var', '--env-temperature', '--env-max-tokens', '--agent',
  '--modes', '--max-rows', '--batch-size', '--protocol', '--temperature', '--seed', '--threads', '--similarity-model', '--out', '--cache']

export function parseEvalArgs(args: string[], env: Record<string, string | undefined>): EvalCliOptions {
  const values = new Map<string, string[]>()
  let cache = true
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]
    if (flag === '--no-cache') { cache = false; continue }
    if (!VALUE_FLAGS.includes(flag)) throw new UsageError(`unknown argument ${flag}`)
    const value = args[++i]
    if (value === undefined) throw new UsageError(`${flag} needs a value`)
    values.set(flag, [...(values.get(flag) ?? []), value])
  }
  const one = (flag: string) => values.get(flag)?.at(-1)
  const number = (flag: string) => (one(flag) === undefined ? undefined : Number(one(flag)))
  const agentModel = one('--agent')
  const modes = one('--modes')?.split(',') ?? (agentModel ? ['direct', 'cot', 'agent'] : ['direct', 'cot'])
  const apiKey = env[one('--env-api-key-var') ?? 'OPENAI_API_KEY']
  const raw = {
    datasets: (values.get('--dataset') ?? []).map(datasetSpec),
    environment: {
      base_url: one('--env-base-url'), model: one('--env-model'), api_key: apiKey || undefined,
      temperature: number('--env-temperature'), max_tokens: number('--env-max-tokens'), cache,
    },
    agent: agentModel ? { model: agentModel, protocol: one('--protocol'), temperature: number('--temperature'), seed: number('--seed') } : undefined,
    modes, max_rows: number('--max-rows'), batch_size: number('--batch-size'),
  }
  const parsed = createEvaluationBody.safeParse(JSON.parse(JSON.stringify(raw)))
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new UsageError(`${issue.path.join('.') || 'arguments'}: ${issue.message}`)
  }
  const threads = number('--threads')
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) throw new UsageError('--threads must be a positive integer')
  const out = one('--out') ?? 'eval-out'
  return { config: parsed.data, out, cacheDir: one('--cache') ?? join(out, 'cache'), threads, similarityModel: one('--similarity-model') }
}

function datasetSpec(arg: string) {
  const match = new RegExp(`^(.*):(${TASK_KINDS.join('|')})$`).exec(arg)
  const [source, kind] = match ? [match[1], match[2]] : [arg, undefined]
  if (PUBLISHED_DATASETS.some((d) => d.name === source)) return { name: source, kind }
  if (!['.jsonl', '.parquet'].includes(extname(source)) || !existsSync(source)) {
    throw new UsageError(`--dataset ${arg}: neither a published dataset nor an existing .jsonl or .parquet file`)
  }
  return { path: source, name: basename(source, extname(source)), kind }
}

/** Runs the evaluation; returns the table. Progress goes to `progress` (a bar on a terminal). */
export async function runEvalCli(options: EvalCliOptions, progress: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean }, signal?: AbortSignal): Promise<string> {
  const { config, out } = options
  await mkdir(out, { recursive: true })
  await checkSameSetup(config, out)
  const datasets = await loadEvalDatasets(config, async () => { throw new Error('uploaded files are for the API; give a path') })
  const environment = makeEnvironment(config.environment, { allowLoopback: true }, new DirectoryResponseCache(options.cacheDir))
  const store = new BlobRowStore(new LocalBlobStore(out), 'rows')
  let agent: LoadedAgent | undefined
  let embedder: Awaited<ReturnType<typeof loadSimilarityEmbedder>>['embedder'] | undefined
  const started = Date.now()
  try {
    if (config.modes.includes('agent')) {
      // the engine settings of this machine (PROMPT_R1_ENGINE_*), --threads first
      const engine = { ...loadConfig(process.env).engine, ...(options.threads ? { threads: options.threads } : {}) }
      agent = await loadAgent(config.agent!, config.agent!.model!, { batchSize: config.batch_size, engine, signal })
    }
    const similarity = await loadSimilarityEmbedder(datasets, options.similarityModel ?? loadConfig(process.env).similarityModel, { threads: options.threads })
    if (similarity.warning) progress.write(`warning: ${similarity.warning}\n`)
    embedder = similarity.embedder
    const rows = await runEvaluation({
      datasets, modes: config.modes, environment, agent, embedder, store, batchSize: config.batch_size, environmentErrorLimit: config.environment_error_limit, signal,
      onProgress: (p) => { progress.write(progressLine(p.done, p.total, `${p.dataset} ${p.mode}`, Date.now() - started, progress.isTTY === true)) },
    })
    if (progress.isTTY) progress.write('\n')
    const descriptors = describeDatasets(config)
    const sorted = sortRows(rows, descriptors)
    const summary = summarize({ rows: sorted, datasets: descriptors, modes: config.modes, resamples: config.bootstrap_resamples })
    const table = markdownTable(summary)
    await writeFile(join(out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n')
    await writeFile(join(out, 'results.jsonl'), rowsToJsonl(sorted))
    await writeFile(join(out, 'results.csv'), rowsToCsv(sorted))
    await writeFile(join(out, 'table.md'), table)
    return table
  } finally {
    await agent?.dispose()
    await embedder?.dispose?.()
  }
}

// Stored rows are reused by (dataset, mode, row): they must come from the same environment and
// agent. Datasets, modes and max_rows may change between runs of one folder.
async function checkSameSetup(config: EvaluationConfig, out: string): Promise<void> {
  const { api_key: _, timeout_ms: _t, max_retries: _r, concurrency: _c, cache: _k, ...environment } = config.environment
  const setup = JSON.stringify({ environment, agent: config.agent ?? null }, null, 2) + '\n'
  const file = join(out, 'setup.json')
  const stored = await readFile(file, 'utf8').catch(() => undefined)
  if (stored === undefined) await writeFile(file, setup)
  else if (stored !== setup) throw new UsageError(`${out} holds an evaluation of another environment or agent (see ${file}); give another --out`)
}

