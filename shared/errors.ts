// The API's error, shared by the edge and the worker: the edge answers it as
// {error: {code, message, param}} with its status; the worker throws it where the caller's input is at fault.
import type { ContentfulStatusCode } from 'hono/utils/http-status'

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
    // sent as Retry-After: a 503 or 429 the client should try again after
    readonly retryAfterSeconds?: number,
  ) {
    super(message)
  }
}

/**
 * A job's work failed for a reason with a name of its own (the job's error `code`, e.g.
 * `environment_unavailable`); any other error fails a job as `job_failed`.
 */
export class JobFailure extends Error {
  constructor(readonly code: string, message: string) {
    super(message)
  }
}
