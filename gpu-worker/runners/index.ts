import type { JobKind } from '../../shared/db/schema.ts'
import type { JobRunner } from '../worker.ts'
import { runNoopJob } from './noop.ts'

// The job kinds this build of the worker can run; `train` and `eval` arrive with their runners.
export const RUNNERS: Partial<Record<JobKind, JobRunner>> = { noop: runNoopJob }
