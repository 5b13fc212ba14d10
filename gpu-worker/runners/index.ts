// The runners of a worker by job kind, and the job worker, made from its configuration: where its model sessions run,
// the environment LLM of training jobs that name none, and the host policy of jobs' environments.
import type { Config } from '../../shared/config.ts'
import type { JobKind } from '../../shared/db/schema.ts'
import { OpenAIEnvironment } from '../../shared/protocol/environment.ts'
import type { BlobStore } from '../../shared/blob/store.ts'
import type { Database } from '../../shared/db/database.ts'
import { defaultCacheDir } from '../engine/checkpoint.ts'
import { hubAccessProbe } from '../hub-access.ts'
import { type JobRunner, JobWorker } from '../worker.ts'
import { createEvalRunner } from './eval.ts'
import { runNoopJob } from './noop.ts'
import { trainRunner } from './train.ts'

// the operator's own environment (PROMPT_R1_ENVIRONMENT_*) may be on this machine; metadata addresses stay refused
const OPERATOR_NAMED = { allowLoopback: true }

export type Runners = Partial<Record<JobKind, JobRunner>>

export function createRunners(config: Pick<Config, 'engine' | 'environment' | 'allowLoopbackEnvironment' | 'modelFolders' | 'similarityModel'>): Runners {
  const { engine, allowLoopbackEnvironment, modelFolders, similarityModel } = config
  return {
    noop: runNoopJob,
    train: trainRunner({ engine, allowLoopbackEnvironment, modelFolders, environment: config.environment && new OpenAIEnvironment({ ...config.environment, policy: OPERATOR_NAMED }) }),
    eval: createEvalRunner({ engine, allowLoopbackEnvironment, modelFolders, similarityModel }),
  }
}

/** A configuration's job worker: its runners, its queue settings and what it can load from the hub (cached or downloaded). */
export function jobWorkerFor(config: Config, db: Database, blobs: BlobStore): JobWorker {
  return new JobWorker({ db, blobs, runners: createRunners(config), ...config.queue, hubAccess: hubAccessProbe(defaultCacheDir()) })
}
