// The runners of a worker by job kind, made from its configuration: where its model sessions run,
// the environment LLM of training jobs that name none, and the host policy of jobs' environments.
import type { Config } from '../../shared/config.ts'
import type { JobKind } from '../../shared/db/schema.ts'
import { OpenAIEnvironment } from '../../shared/protocol/environment.ts'
import type { JobRunner } from '../worker.ts'
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
