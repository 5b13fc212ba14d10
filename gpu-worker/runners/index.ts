import type { JobKind } from '../../shared/db/schema.ts'
import type { JobRunner } from '../worker.ts'
import { runEvalJob } from './eval.ts'
import { runNoopJob } from './noop.ts'
import { runTrainJob } from './train.ts'

// The job kinds this build of the worker can run.
export const RUNNERS: Partial<Record<JobKind, JobRunner>> = { noop: runNoopJob, train: runTrainJob, eval: runEvalJob }
