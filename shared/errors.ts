// The API's error, shared by the edge and the worker: the edge answers it as
// {error: {code, message, param}} with its status; the worker throws it where the caller's input is at fault.
import type { ContentfulStatusCode } from 'hono/utils/http-status'

/** One problem of a request, as `error.details` lists them: every field's, not only the first. */
export interface ErrorDetail { code: string; message: string; param: string | null }

export class ApiError extends Error {
  /** Every problem found in the request, this error's own first; undefined where there is one. */
  details?: ErrorDetail[]

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

  /** The first of several problems, answered with all of them in `details`. */
  static ofAll(errors: ApiError[]): ApiError {
    const [first] = errors
    const all = new ApiError(first.status, first.code, errors.length > 1 ? `${first.message} (and ${errors.length - 1} more: see error.details)` : first.message, first.param)
    all.details = errors.map((e) => ({ code: e.code, message: e.message, param: e.param }))
    return all
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
