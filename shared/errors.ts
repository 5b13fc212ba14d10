// The API's error, shared by the edge and the worker: the edge answers it as
// {error: {code, message, param}} with its status; the worker throws it where the caller's input is at fault.
import type { ContentfulStatusCode } from 'hono/utils/http-status'

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message)
  }
}
