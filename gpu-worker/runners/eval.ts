// The `eval` job: runs the evaluation loop (gpu-worker/eval/run.ts) on the job's config. Scored rows
// go to the blob store batch by batch, so an attempt after a lost lease carries on where the last
// one stopped; environment answers go through a response cache in the blob store, so a rerun of
// the same evaluation calls nothing. The summary and the markdown table are the job's result.
import { readDataset } from '../../datasets/read.ts'
import { readAll } from '../../shared/blob/store.ts'
import type { EngineSettings } from '../../shared/config.ts'
import { getFile } from '../../shared/db/files.ts'
import { failedRows, markdownTable } from '../../shared/eval/report.ts'
import { BlobRowStore, evalRowsPrefix } from '../../shared/eval/store.ts'
import { type EvalRow, describeDatasets } from '../../shared/eval/rows.ts'
import { summarize } from '../../shared/eval/summary.ts'
import { createEvaluationBody } from '../../shared/job-config.ts'
import { modelSource } from '../model-source.ts'
import { loadSimilarityEmbedder } from '../eval/embedder.ts'
import { runEvaluation } from '../eval/run.ts'
import { type LoadedAgent, jobEnvironment, loadAgent, loadEvalDatasets } from '../eval/setup.ts'
import type { JobRunner } from '../worker.ts'

export interface EvalRunnerOptions {
  /**
   * whether the environment's host name may resolve to this machine (default true: the edge decides
   * on the URL as written); link-local and metadata addresses are refused either way
   */
  allowLoopbackEnvironment: boolean
  /** the operator's model folders (PROMPT_R1_MODEL_FOLDERS): an agent's model folder must be inside one */
  modelFolders: string[]
  /** where the agent's engine runs (the worker's configuration) */
  engine: EngineSettings
  /** the engine's model and ONNX cache folder (default: $PROMPT_R1_CACHE or ~/.cache/prompt-r1) */
  cacheDir?: string
  /** the long-form sets' embedding model (PROMPT_R1_SIMILARITY_MODEL) */
  similarityModel: string
}

export function createEvalRunner(options: EvalRunnerOptions): JobRunner {
  return async (ctx) => {
    const { job, db, blobs, signal } = ctx
    const config = createEvaluationBody.parse(job.config)
    const environment = await jobEnvironment(config.environment, job.projectId, blobs, { allowLoopback: options.allowLoopbackEnvironment })
    const datasets = await loadEvalDatasets(config, async (fileId) => {
      const file = await getFile(db, job.projectId, fileId)
      const body = file && (await blobs.get(file.blobKey))
      if (!file || !body) throw new Error(`dataset file ${fileId} is gone`)
      return (await readDataset(await readAll(body), file.format)).rows
    })
    const store = new BlobRowStore(blobs, evalRowsPrefix(job.id))
    const stored = (await store.load()).length
    if (stored > 0) await ctx.event({ level: 'info', type: 'message', message: `Resuming: ${stored} rows already scored are kept` })

    let agent: LoadedAgent | undefined
    ctx.progress({ phase: 'loading' })
    const similarity = await loadSimilarityEmbedder(datasets, options.similarityModel, { threads: options.engine.threads, cacheDir: options.cacheDir })
    if (similarity.warning) await ctx.event({ level: 'warn', type: 'message', message: similarity.warning })
    try {
      if (config.modes.includes('agent')) {
        agent = await loadAgent(config.agent!, await modelSource(config.agent!.model ?? config.agent!.checkpoint!, { db, blobs, projectId: job.projectId, modelFolders: options.modelFolders, cacheDir: options.cacheDir }, 'agent.model'), { batchSize: config.batch_size, engine: options.engine, cacheDir: options.cacheDir, signal })
      }
      const rows = await runEvaluation({
        datasets, modes: config.modes, environment, agent, embedder: similarity.embedder, store,
        batchSize: config.batch_size, environmentErrorLimit: config.environment_error_limit, signal,
        onProgress: (p) => {
          ctx.progress({ phase: 'evaluating', done: p.done, total: p.total })
          return ctx.event({
            level: 'info', type: 'metrics', message: `${p.done}/${p.total} rows scored (${p.dataset}, ${p.mode})`,
            data: { rows_done: p.done, rows_total: p.total, progress: p.done / p.total, dataset: p.dataset, mode: p.mode, ...batchMetrics(p.batch) },
          })
        },
      })
      const summary = summarize({
        rows, datasets: describeDatasets(config), modes: config.modes, resamples: config.bootstrap_resamples,
      })
      const failed = failedRows(summary)
      if (failed.length > 0) {
        await ctx.event({ level: 'warn', type: 'message', message: `Rows whose environment call failed (scored as wrong answers, not left out): ${failed.join(', ')}`, data: { failed_rows: failed } })
      }
      return { result: { summary, table_markdown: markdownTable(summary), rows_prefix: evalRowsPrefix(job.id) } }
    } finally {
      await agent?.dispose()
      await similarity.embedder.dispose?.()
    }
  }
}


// the batch's means, for the dashboard's live curves
function batchMetrics(batch: EvalRow[]) {
  const mean = (pick: (r: EvalRow) => number) => batch.reduce((sum, r) => sum + pick(r), 0) / batch.length
  return {
    batch_rows: batch.length,
    em: mean((r) => r.scores.em),
    f1: mean((r) => r.scores.f1),
    environment_tokens: batch.reduce((sum, r) => sum + r.environment_prompt_tokens + r.environment_completion_tokens, 0),
    agent_tokens: batch.reduce((sum, r) => sum + r.agent_tokens, 0),
    turns: mean((r) => r.turns),
    errors: batch.filter((r) => r.error !== null).length,
  }
}

