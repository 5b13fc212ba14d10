// npm run demo:train: the learning check of test/training/learning.test.ts as a demo. Trains a tiny
// random Qwen3 agent on one-digit arithmetic against a local OpenAI-compatible environment
// (supervised warm-start, then GRPO) with a progress bar on stderr, writes the reward curve (SVG
// and CSV), and registers the trained agent as a merged checkpoint of the embedded platform
// (PROMPT_R1_DATA_DIR, default .prompt-r1; or DATABASE_URL / S3_BUCKET), so `npm start` serves it
// through /v1/chat/completions and offers its files for download.
//   npm run demo:train [-- --out DIR] [--keep-environment]
//     --out: where reward.csv and reward.svg go (default <data dir>/demo-train)
//     --keep-environment: keep the arithmetic environment running afterwards (until Ctrl-C), so the
//       served agent can be asked against the environment it was trained with
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { eq, sql } from 'drizzle-orm'
import { openBlobStore } from '../shared/blob/open.ts'
import { type Config, loadConfig } from '../shared/config.ts'
import { DEFAULT_PROJECT } from '../shared/db/api-keys.ts'
import { insertCheckpoint } from '../shared/db/checkpoints.ts'
import { openConfiguredDatabase } from '../shared/db/embedded.ts'
import { createJob } from '../shared/db/jobs.ts'
import { jobs, type CheckpointFile } from '../shared/db/schema.ts'
import { type Environment, OpenAIEnvironment } from '../shared/protocol/environment.ts'
import { type GrpoOptions, type StepMetrics } from '../gpu-worker/training/grpo.ts'
import { arithmeticOptions, trainArithmetic } from '../gpu-worker/training/arithmetic-task.ts'
import { writeMergedModel } from '../gpu-worker/training/state.ts'
import { startDeterministicArithmeticEnv } from '../test/protocol/deterministic-arithmetic-env.ts'

export interface DemoResult {
  jobId: string
  checkpointId: string
  /** Metrics of every GRPO step. */
  steps: StepMetrics[]
  csv: string
  svg: string
}

/**
 * Trains, writes reward.csv and reward.svg into `outDir`, and registers the job and its merged
 * checkpoint in the configured database and blob store (project "default", the admin key's).
 */
export async function demoTrain(input: {
  config: Pick<Config, 'dataDir' | 'databaseUrl' | 's3'>
  environment: Environment
  outDir: string
  options?: Partial<GrpoOptions>
  onProgress?: (phase: 'warm-start' | 'grpo', done: number, total: number, metrics: StepMetrics) => void
}): Promise<DemoResult> {
  const options = arithmeticOptions(input.options)
  const work = mkdtempSync(join(tmpdir(), 'prompt-r1-demo-'))
  const steps: StepMetrics[] = []
  try {
    const { trainer, base } = await trainArithmetic({
      baseDir: join(work, 'base'), workDir: join(work, 'rollouts'), environment: input.environment, options,
      onWarmStartStep: (k, m) => input.onProgress?.('warm-start', k, options.warmStart!.steps, m),
      onStep: (k, m) => {
        steps.push(m)
        input.onProgress?.('grpo', k, options.steps, m)
      },
    })
    const merged = writeMergedModel(base, trainer.model, join(work, 'merged'))
    await trainer.dispose()

    mkdirSync(input.outDir, { recursive: true })
    const csv = join(input.outDir, 'reward.csv')
    const svg = join(input.outDir, 'reward.svg')
    writeFileSync(csv, rewardCsv(steps))
    writeFileSync(svg, rewardSvg(steps.map((m) => m.reward_mean)))

    const open = await openConfiguredDatabase(input.config)
    try {
      const blobs = openBlobStore(input.config)
      const job = await createJob(open.db, {
        projectId: DEFAULT_PROJECT, kind: 'train', status: 'succeeded', maxAttempts: 1,
        config: {
          model: 'tiny random Qwen3 (npm run demo:train)', seed: options.seed, metadata: { demo: 'arithmetic' },
          method: { type: 'grpo', grpo: { hyperparameters: {
            group_size: options.groupSize, prompts_per_step: options.promptsPerStep, steps: options.steps,
            learning_rate: options.optimizer.lr, kl_coef: options.loss.klCoef, clip_ratio: options.loss.clipLow,
            dual_clip: options.loss.dualClip, updates_per_step: options.updatesPerStep, max_turns: options.protocol.maxTurns,
          } } },
        },
      })
      const prefix = `jobs/${job.id}/checkpoints/step-${options.steps}/merged`
      const files: CheckpointFile[] = []
      for (const path of readdirSync(merged).filter((f) => !f.startsWith('.')).sort()) {
        files.push({ path, blobKey: `${prefix}/${path}`, ...(await blobs.put(`${prefix}/${path}`, readFileSync(join(merged, path)))) })
      }
      const final = steps.at(-1)!
      const checkpoint = await insertCheckpoint(open.db, {
        projectId: DEFAULT_PROJECT, jobId: job.id, step: options.steps, kind: 'merged', files: { merged: files },
        metrics: Object.fromEntries(Object.entries(final).filter(([, v]) => Number.isFinite(v))),
      })
      await open.db.update(jobs).set({
        result: { steps_completed: options.steps, merged_checkpoint_id: checkpoint.id }, startedAt: job.createdAt, finishedAt: sql`now()`,
      }).where(eq(jobs.id, job.id))
      return { jobId: job.id, checkpointId: checkpoint.id, steps, csv, svg }
    } finally {
      await open.close()
    }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

export function rewardCsv(steps: StepMetrics[]): string {
  const columns = ['step', 'reward_mean', 'reward_std', 'format_mean', 'answer_f1_mean', 'response_tokens_mean', 'grad_norm', 'clip_frac', 'time_rollout_s', 'time_update_s']
  return [columns.join(','), ...steps.map((m) => columns.map((c) => m[c]).join(','))].join('\n') + '\n'
}

/** The mean reward per step, with a 5-step moving average, on the reward's range [-1, 1]. */
export function rewardSvg(rewards: number[]): string {
  const [W, H, left, right, top, bottom] = [640, 360, 56, 16, 24, 44]
  const x = (i: number) => left + (rewards.length > 1 ? (i / (rewards.length - 1)) * (W - left - right) : 0)
  const y = (r: number) => top + ((1 - r) / 2) * (H - top - bottom)
  const path = (values: number[]) => values.map((v, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')
  const smooth = rewards.map((_, i) => {
    const window = rewards.slice(Math.max(0, i - 4), i + 1)
    return window.reduce((a, b) => a + b, 0) / window.length
  })
  const grid = [-1, -0.5, 0, 0.5, 1].map((r) =>
    `<line x1="${left}" x2="${W - right}" y1="${y(r)}" y2="${y(r)}" stroke="#ddd"/><text x="${left - 8}" y="${y(r) + 4}" text-anchor="end">${r}</text>`).join('')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="16" text-anchor="middle" font-size="14">GRPO mean reward per step (npm run demo:train)</text>
${grid}
<text x="${left}" y="${H - 24}" text-anchor="middle">1</text><text x="${W - right}" y="${H - 24}" text-anchor="middle">${rewards.length}</text>
<text x="${W / 2}" y="${H - 8}" text-anchor="middle">step</text>
<path d="${path(rewards)}" fill="none" stroke="#9ab" stroke-width="1.5"/>
<path d="${path(smooth)}" fill="none" stroke="#c33" stroke-width="2.5"/>
<text x="${W - right}" y="${top + 14}" text-anchor="end" fill="#c33">5-step mean</text>
</svg>
`
}

/** One line on stderr, redrawn in place: [#####.....] phase k/n metrics. */
function progressBar(phase: string, done: number, total: number, detail: string) {
  const width = 30
  const filled = Math.round((done / total) * width)
  const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${phase} ${done}/${total} ${detail}`
  if (process.stderr.isTTY) process.stderr.write(`\r${line.padEnd(process.stderr.columns ? process.stderr.columns - 1 : 100)}${done === total ? '\n' : ''}`)
  else if (done === total || done % 10 === 0) process.stderr.write(`${line}\n`)
}

async function main() {
  const { values } = parseArgs({ options: { out: { type: 'string' }, 'keep-environment': { type: 'boolean', default: false } } })
  const config = loadConfig(process.env)
  const outDir = resolve(values.out ?? join(config.dataDir, 'demo-train'))
  const server = await startDeterministicArithmeticEnv()
  const keep = values['keep-environment']
  const started = performance.now()
  try {
    const result = await demoTrain({
      config, outDir, environment: new OpenAIEnvironment({ baseURL: server.baseURL, apiKey: 'demo', model: 'arithmetic', policy: { allowLoopback: true } }),
      onProgress: (phase, k, n, m) => progressBar(phase, k, n, phase === 'grpo' ? `reward ${m.reward_mean.toFixed(3)}` : `nll ${m.nll.toFixed(3)}`),
    })
    const rewards = result.steps.map((m) => m.reward_mean)
    const mean = (xs: number[]) => (xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(3)
    const port = process.env.PORT ?? '8787'
    console.log(`
Trained in ${((performance.now() - started) / 1000).toFixed(0)} s: mean reward ${mean(rewards.slice(0, 5))} over the first 5 GRPO steps, ${mean(rewards.slice(-5))} over the last 5.
Reward curve: ${result.svg}
              ${result.csv}
Registered job ${result.jobId} and its merged checkpoint ${result.checkpointId} (project "${DEFAULT_PROJECT}", data: ${config.databaseUrl ? 'DATABASE_URL' : resolve(config.dataDir)}).

Serve it: start the platform on the same data (PROMPT_R1_ALLOW_LOOPBACK_ENVIRONMENT lets it call an environment on this machine)
  PROMPT_R1_ALLOW_LOOPBACK_ENVIRONMENT=true npm start
and ask it with an admin key (printed at the first start, or PROMPT_R1_ADMIN_KEY) and an OpenAI-compatible environment
(it was trained against one that computes "a + b" / "a - b" in the prompt it receives${keep ? ', still running here' : ': rerun with --keep-environment to keep it'}):
  curl -s http://127.0.0.1:${port}/v1/chat/completions -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \\
    -d '{"model": "${result.checkpointId}", "messages": [{"role": "user", "content": "3 + 4"}],
         "environment": {"base_url": "${keep ? server.baseURL : 'http://127.0.0.1:PORT/v1'}", "model": "arithmetic", "api_key": "none"}}'
Download it (Hugging Face folder: config.json, model.safetensors, tokenizer files):
  curl -s -H "Authorization: Bearer $KEY" 'http://127.0.0.1:${port}/v1/checkpoints/${result.checkpointId}/download?format=merged'
  then GET each file's url with the same header.`)
    if (keep) {
      console.log(`\nThe arithmetic environment is at ${server.baseURL}; Ctrl-C stops it.`)
      await new Promise((resolve) => process.once('SIGINT', resolve))
    }
  } finally {
    await server.close()
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
