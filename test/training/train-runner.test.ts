// The `train` job runner against a real database and blob store: metrics events per step,
// checkpoint rows with downloadable files, cancellation at a step boundary (as a lost worker), and a
// later attempt that resumes after the last checkpoint and ends with the merged checkpoint.
import { basename } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { TEST_ENGINE, TEST_MODEL_FOLDERS } from '../helpers/engine.ts'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import { readAll } from '../../shared/blob/store.ts'
import { listCheckpoints } from '../../shared/db/checkpoints.ts'
import type { OpenDatabase } from '../../shared/db/database.ts'
import { insertFile } from '../../shared/db/files.ts'
import { appendEvent, createJob, listEvents } from '../../shared/db/jobs.ts'
import { PROBE_PROMPT } from '../../shared/protocol/environment.ts'
import { TRAINING_OPTIONS } from '../../shared/protocol/options.ts'
import { makeTinyCheckpoint } from '../../gpu-worker/engine/tiny.ts'
import { trainRunner } from '../../gpu-worker/runners/train.ts'
import type { ProgressReport } from '../../gpu-worker/worker.ts'
import { describePostgres, freshPostgres } from '../helpers/databases.ts'
import { removeTempDirs, tempDir } from './helpers.ts'

afterAll(removeTempDirs)

describePostgres('train runner', () => {
  let database: OpenDatabase
  beforeAll(async () => { database = await freshPostgres() })
  afterAll(async () => { await database?.close() })

  it('trains, checkpoints, stops at a step boundary, resumes on the next attempt and records the merged checkpoint', async () => {
    const { db } = database
    const blobs = new LocalBlobStore(tempDir())
    const model = tempDir()
    makeTinyCheckpoint(model, { seed: 8, hiddenSize: 32, numHeads: 4, numKvHeads: 2, intermediateSize: 48, numLayers: 1 })
    const jsonl = ['1+1', '2+2'].map((q) => JSON.stringify({ question: q, golds: ['2'] })).join('\n')
    const info = await blobs.put('files/train.jsonl', new TextEncoder().encode(jsonl))
    await insertFile(db, { id: 'file-train', projectId: 'p', filename: 'train.jsonl', purpose: 'train', blobKey: 'files/train.jsonl', format: 'jsonl', rowCount: 2, validation: {}, ...info })
    const job = await createJob(db, {
      projectId: 'p', kind: 'train', maxAttempts: 3,
      config: {
        model, training_file: 'file-train', seed: 1, suffix: 'runner-test',
        method: { type: 'grpo', grpo: { hyperparameters: {
          steps: 3, group_size: 2, prompts_per_step: 1, updates_per_step: 1, checkpoint_every: 1, learning_rate: 1e-3,
          lora_rank: 2, lora_alpha: 4, lora_targets: 'q,v', micro_batch_tokens: 64,
        } } },
      },
    })
    const runner = trainRunner({
      environment: { complete: async () => ({ content: '2', usage: { promptTokens: 1, completionTokens: 1 } }) },
      overrides: { protocol: { ...TRAINING_OPTIONS, maxTurns: 1, maxNewTokensPerTurn: 6 } },
      engine: TEST_ENGINE, allowLoopbackEnvironment: false, modelFolders: TEST_MODEL_FOLDERS,
      workDir: tempDir(),
    })
    // First attempt: stopped once step 1 is reported (cancellation is seen at the next step boundary).
    const abort = new AbortController()
    const event = async (e: Parameters<typeof appendEvent>[2]) => {
      await appendEvent(db, job.id, e)
      if (e.type === 'message' && e.message.startsWith('Checkpoint')) abort.abort(new Error('worker lost'))
    }
    const reports: ProgressReport[] = []
    const progress = (report: ProgressReport) => { reports.push(report) }
    await expect(runner({ job, db, blobs, signal: abort.signal, event, progress })).rejects.toThrow('worker lost')
    const second = await runner({ job: { ...job, attempt: 2 }, db, blobs, signal: new AbortController().signal, event: (e) => appendEvent(db, job.id, e).then(() => {}), progress })
    expect(second.result?.steps_completed).toBe(3)
    // what the job was doing, as it went: each step's episodes (2 of them) played round by round,
    // its one mini-batch, its checkpoint; the first attempt from loading, the second resumed at step 2
    const seen = reports.map((r) => [r.phase, r.step ?? '-', r.done ?? '-', r.total ?? '-'].join(' '))
    expect(seen.filter((r) => r.startsWith('loading'))).toEqual(['loading - - -', 'loading - - -'])
    for (const step of [1, 2, 3]) {
      expect(seen).toContain(`rollout ${step} 0 2`)
      expect(seen).toContain(`rollout ${step} 2 2`)
      expect(seen).toContain(`update ${step} 0 1`)
      expect(seen).toContain(`checkpoint ${step} - -`)
    }
    expect(seen.indexOf('rollout 2 2 2')).toBeLessThan(seen.indexOf('update 2 0 1'))
    expect(reports.every((r) => r.steps === 3)).toBe(true)

    const events = (await listEvents(db, job.id, 0, 100)).data.map((e) => [e.type, e.message])
    expect(events.filter(([t]) => t === 'metrics').map(([, m]) => m)).toEqual(['step 1/3', 'step 2/3', 'step 3/3'])
    expect(events).toContainEqual(['message', 'Resuming after step 1'])
    const page = await listCheckpoints(db, job.id, undefined, 10)
    if (page === 'invalid_cursor') throw new Error('unexpected')
    expect(page.data.map((c) => [c.step, c.kind])).toEqual([[3, 'merged'], [2, 'adapter'], [1, 'adapter']])
    const final = page.data[0]
    expect(second.result?.merged_checkpoint_id).toBe(final.id)
    // named as OpenAI names a fine-tuned model: base folder's name, project, suffix, id
    expect(second.result?.fine_tuned_model).toBe(`ft:${basename(model)}:p:runner-test:${final.id}`)
    expect(final.modelName).toBe(second.result?.fine_tuned_model)
    expect(page.data[1].modelName).toBeNull()
    expect(final.files.merged.map((f) => f.path)).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'])
    expect(final.files.adapter.map((f) => f.path)).toEqual(['adapter_config.json', 'adapter_model.safetensors'])
    expect(await blobs.size(final.files.merged[2].blobKey)).toBe(final.files.merged[2].bytes)
    // ...and as one GGUF file (checked against llama.cpp in test/reference/gguf.test.ts), only at the end
    expect(final.files.gguf.map((f) => f.path)).toEqual(['model-Q8_0.gguf'])
    const gguf = await readAll((await blobs.get(final.files.gguf[0].blobKey))!)
    expect(new TextDecoder().decode(gguf.subarray(0, 4))).toBe('GGUF')
    expect(page.data[1].files.gguf).toBeUndefined()
    // The job's LoRA hyperparameters reached the adapters.
    const adapterConfig = JSON.parse(new TextDecoder().decode(await readAll((await blobs.get(final.files.adapter[0].blobKey))!)))
    expect(adapterConfig).toMatchObject({ r: 2, lora_alpha: 4, target_modules: ['q_proj', 'v_proj'] })
    expect(typeof final.metrics?.reward_mean).toBe('number')
  })

  it('fails a job whose environment does not answer before loading the model (environment_unavailable)', async () => {
    const { db } = database
    const job = await createJob(db, {
      projectId: 'p', kind: 'train', maxAttempts: 1,
      // neither the model nor the file exists: the environment is checked first
      config: { model: '/nonexistent/model', training_file: 'file-none', method: { type: 'grpo', grpo: { hyperparameters: { steps: 1 } } } },
    })
    const calls: string[] = []
    const runner = trainRunner({
      environment: { complete: async (messages) => { calls.push(messages.at(-1)!.content); throw new Error('401 Incorrect API key provided') } },
      engine: TEST_ENGINE, allowLoopbackEnvironment: false, modelFolders: TEST_MODEL_FOLDERS, workDir: tempDir(),
    })
    await expect(runner({ job, db, blobs: new LocalBlobStore(tempDir()), signal: new AbortController().signal, event: async () => {}, progress: () => {} }))
      .rejects.toMatchObject({ code: 'environment_unavailable', message: 'the environment LLM did not answer a test call: 401 Incorrect API key provided' })
    expect(calls).toEqual([PROBE_PROMPT])
  })

  it('trains on a published set by name, and fails as dataset_missing, before the model loads, where this machine has none', async () => {
    const empty = tempDir()
    const saved = process.env.PROMPT_R1_DATASETS_DIR
    process.env.PROMPT_R1_DATASETS_DIR = empty
    try {
      const job = await createJob(database.db, {
        projectId: 'p', kind: 'train', maxAttempts: 1,
        config: { model: '/nowhere/model', training_file: 'train', method: { type: 'grpo', grpo: { hyperparameters: { steps: 1 } } } },
      })
      const runner = trainRunner({
        environment: { complete: async () => ({ content: '2', usage: { promptTokens: 1, completionTokens: 1 } }) },
        engine: TEST_ENGINE, allowLoopbackEnvironment: false, modelFolders: TEST_MODEL_FOLDERS, workDir: tempDir(),
      })
      const failure = await runner({ job, db: database.db, blobs: new LocalBlobStore(tempDir()), signal: new AbortController().signal, event: async () => {}, progress: () => {} }).catch((e) => e)
      expect(failure).toMatchObject({ code: 'dataset_missing' })
      expect(failure.message).toBe(`the published dataset "train" is not here: looked for train_data/train.parquet in ${empty}; get it with: npm run prompt-r1 -- datasets pull train`)
    } finally {
      if (saved === undefined) delete process.env.PROMPT_R1_DATASETS_DIR
      else process.env.PROMPT_R1_DATASETS_DIR = saved
    }
  })
})
