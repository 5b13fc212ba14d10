// The `train` job: GRPO on the job's base model and dataset file (gpu-worker/training/grpo.ts).
// Emits a `metrics` event per step and `message` events, checkpoints every k steps to the blob
// store (resumable state, and the adapter or weights as a downloadable checkpoint row), honours
// cancellation at step boundaries, resumes from its last checkpoint on a later attempt, and on
// success records the merged checkpoint (also as a Q8_0 GGUF file). Each step's episodes go to the blob store as JSONL for the
// trajectory viewer. The environment LLM is the job's (`environment`) or else the worker's.
import { mkdirSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readDataset } from '../../datasets/read.ts'
import type { DatasetRow } from '../../datasets/read.ts'
import { loadNamedDataset, namedDataset } from '../../datasets/named.ts'
import { putFile } from '../../shared/blob/files.ts'
import type { BlobStore } from '../../shared/blob/store.ts'
import { readAll } from '../../shared/blob/store.ts'
import type { EngineSettings } from '../../shared/config.ts'
import { insertCheckpoint } from '../../shared/db/checkpoints.ts'
import type { Database } from '../../shared/db/database.ts'
import { getFile } from '../../shared/db/files.ts'
import type { CheckpointFile } from '../../shared/db/schema.ts'
import { createTrainingJobBody, trajectoryKey } from '../../shared/job-config.ts'
import { type Environment, probeEnvironment } from '../../shared/protocol/environment.ts'
import { ChatTokenizer } from '../../shared/protocol/tokenizer.ts'
import { defaultCacheDir, openCheckpoint, resolveCheckpoint } from '../engine/checkpoint.ts'
import { writeGguf } from '../engine/gguf.ts'
import { type GrpoOptions, GrpoTrainer } from '../training/grpo.ts'
import { grpoOptionsOf } from '../training/job-options.ts'
import { writeAdapter, writeMergedModel } from '../training/state.ts'
import { jobEnvironment } from '../eval/setup.ts'
import { modelSource } from '../model-source.ts'
import type { JobRunner } from '../worker.ts'

export interface TrainRunnerOptions {
  /** The environment LLM of jobs that name none (the worker's PROMPT_R1_ENV_*). */
  environment?: Environment
  /**
   * whether a job's environment host name may resolve to this machine (default true: the edge decides
   * on the URL as written); link-local and metadata addresses are refused either way
   */
  allowLoopbackEnvironment: boolean
  /** the operator's model folders (PROMPT_R1_MODEL_FOLDERS): a job's model folder must be inside one */
  modelFolders: string[]
  /** Overrides of the derived GRPO options (tests use small turn and token limits). */
  overrides?: Partial<GrpoOptions>
  /** Where the policy's sessions run (the worker's configuration). */
  engine: EngineSettings
  /** Scratch space (default: the OS temp folder). */
  workDir?: string
  /** Where base models are cached and the built-in sample agent is made (default: PROMPT_R1_CACHE, else ~/.cache/prompt-r1). */
  cacheDir?: string
}

export function trainRunner(options: TrainRunnerOptions): JobRunner {
  return async ({ job, db, blobs, signal, event, progress }) => {
    const config = createTrainingJobBody.parse(job.config)
    if (config.method.type !== 'grpo') throw new Error(`the train runner runs GRPO jobs, not ${config.method.type}`)
    const hp = config.method.grpo.hyperparameters
    progress({ phase: 'loading', steps: hp.steps })
    const environment = config.environment ? await jobEnvironment(config.environment, job.projectId, blobs, { allowLoopback: options.allowLoopbackEnvironment })
      : options.environment
    if (!environment) throw new Error('no environment LLM: the job names none and the worker has none configured (PROMPT_R1_ENV_BASE_URL, PROMPT_R1_ENV_MODEL, PROMPT_R1_ENV_API_KEY)')
    await probeEnvironment(environment, signal) // before the model loads: a dead environment fails the job in seconds
    const data = await datasetRows(db, blobs, job.projectId, config.training_file!)
    const validation = config.validation_file ? await datasetRows(db, blobs, job.projectId, config.validation_file) : undefined
    const workDir = join(options.workDir ?? tmpdir(), `prompt-r1-train-${job.id}`)
    mkdirSync(workDir, { recursive: true })
    const cacheDir = options.cacheDir ?? defaultCacheDir()
    const source = await modelSource(config.model!, { db, blobs, projectId: job.projectId, modelFolders: options.modelFolders, cacheDir })
    const base = openCheckpoint(await resolveCheckpoint(source, cacheDir))
    const grpo: GrpoOptions = { ...grpoOptionsOf(config, options.engine), ...options.overrides }
    const lora = grpo.lora
    const prefix = `jobs/${job.id}`
    const upload = async (dir: string, key: string): Promise<CheckpointFile[]> => {
      const files: CheckpointFile[] = []
      for (const path of readdirSync(dir).filter((f) => !f.startsWith('.')).sort()) {
        const blobKey = `${key}/${path}`
        const info = await putFile(blobs, blobKey, join(dir, path))
        files.push({ path, blobKey, ...info })
      }
      return files
    }
    let finalCheckpoint = null as { id: string; modelName: string | null } | null
    const trainer = await GrpoTrainer.create({
      base, tokenizer: await ChatTokenizer.fromFolder(base.dir), environment, data, validation, options: grpo,
      workDir, checkpoints: { store: blobs, prefix: `${prefix}/state` }, signal, onProgress: progress,
      onStep: async (step, metrics, episodes) => {
        // stored before the step is reported, so a step the events show has its trajectories
        const jsonl = episodes.map((e) => JSON.stringify(e)).join('\n') + '\n'
        await blobs.put(trajectoryKey(job.id, step), new TextEncoder().encode(jsonl), { contentType: 'application/x-ndjson' })
        await event({ level: 'info', type: 'metrics', message: `step ${step}/${grpo.steps}`, data: { ...metrics, progress: step / grpo.steps } })
      },
      onCheckpoint: async (step, _dir, metrics) => {
        progress({ phase: 'checkpoint', step, steps: grpo.steps })
        const out = join(workDir, `export-${step}`)
        const final = step === grpo.steps
        const files: Record<string, CheckpointFile[]> = {}
        if (lora) files.adapter = await upload(writeAdapter(trainer.model, lora, config.model!, join(out, 'adapter')), `${prefix}/checkpoints/step-${step}/adapter`)
        if (final || !lora) files.merged = await upload(writeMergedModel(base, trainer.model, join(out, 'merged')), `${prefix}/checkpoints/step-${step}/merged`)
        if (final) {
          // the merged model for llama.cpp and Ollama: one file, 8-bit as such models are usually shared
          mkdirSync(join(out, 'gguf'))
          writeGguf(openCheckpoint(join(out, 'merged')), join(out, 'gguf', 'model-Q8_0.gguf'), 'Q8_0')
          files.gguf = await upload(join(out, 'gguf'), `${prefix}/checkpoints/step-${step}/gguf`)
        }
        rmSync(out, { recursive: true, force: true })
        const kind = final ? 'merged' : lora ? 'adapter' : 'full'
        const row = await insertCheckpoint(db, { projectId: job.projectId, jobId: job.id, step, kind, files, metrics: finite(metrics) },
          final ? { base: config.model!, suffix: config.suffix } : undefined)
        await event({ level: 'info', type: 'message', message: `Checkpoint ${row.id} at step ${step}`, data: { checkpoint_id: row.id, step } })
        if (final) finalCheckpoint = row
      },
    })
    try {
      if (trainer.step > 0) await event({ level: 'info', type: 'message', message: `Resuming after step ${trainer.step}` })
      await trainer.run()
    } finally {
      await trainer.dispose()
      rmSync(workDir, { recursive: true, force: true })
    }
    return { result: { steps_completed: trainer.step, merged_checkpoint_id: finalCheckpoint?.id ?? null, fine_tuned_model: finalCheckpoint?.modelName ?? null } }
  }
}


/** An uploaded file's rows, a published set's (by name, from this machine's datasets folders) or a built-in set's. */
async function datasetRows(db: Database, blobs: BlobStore, projectId: string, fileId: string): Promise<DatasetRow[]> {
  if (namedDataset(fileId)) return loadNamedDataset(fileId)
  const file = await getFile(db, projectId, fileId)
  if (!file) throw new Error(`file ${fileId} not found`)
  const body = await blobs.get(file.blobKey)
  if (!body) throw new Error(`file ${fileId}: its blob ${file.blobKey} is missing`)
  const { rows } = await readDataset(await readAll(body), file.format)
  if (rows.length === 0) throw new Error(`file ${fileId} has no usable rows`)
  return rows
}

const finite = (m: Record<string, number>) => Object.fromEntries(Object.entries(m).filter(([, v]) => Number.isFinite(v)))
