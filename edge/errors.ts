// Every error leaves the API as {error: {code, message, param}} with a 4xx status, except a fault of
// the database or the blob store (503 with Retry-After) and a genuine server fault (500), which
// tests treat as a bug.
import type { Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { z } from 'zod'
import { BlobKeyError } from '../shared/blob/store.ts'
import { ApiError, type ErrorDetail } from '../shared/errors.ts'
import { RETRY_AFTER_SECONDS, faultMessage, serviceFault } from '../shared/faults.ts'
import { describeFault } from '../shared/log.ts'


export const notFound = (what: string, id: string, param: string | null = null) =>
  new ApiError(404, 'not_found', `No ${what} found with id '${id}'`, param)

export function errorBody(code: string, message: string, param: string | null = null, details?: ErrorDetail[]) {
  return { error: { code, message, param, ...(details ? { details } : {}) } }
}

// Every issue of the body, so that a form can mark all its wrong fields at once.
export function fromZodError(error: z.ZodError, input: unknown): ApiError {
  return ApiError.ofAll(error.issues.flatMap((issue) => issue.code === 'unrecognized_keys'
    ? issue.keys.map((key) => fromZodIssue({ ...issue, keys: [key] }, input))
    : [fromZodIssue(issue, input)]))
}

// `input` is what was validated: zod 4 does not say whether a failing field was absent.
function fromZodIssue(issue: z.core.$ZodIssue, input: unknown): ApiError {
  if (issue.code === 'unrecognized_keys') {
    const key = [...issue.path, issue.keys[0]].join('.')
    return new ApiError(400, 'unknown_parameter', `Unknown parameter: '${key}'`, key)
  }
  const param = issue.path.length > 0 ? issue.path.join('.') : null
  const where = param ? `'${param}': ` : ''
  const missing = (issue.code !== 'custom' && issue.path.length > 0 && valueAt(input, issue.path) === undefined)
    || (issue.code === 'custom' && issue.params?.missing === true)
  if (missing) {
    const why = issue.code === 'custom' ? ` (${issue.message})` : ''
    return new ApiError(400, 'missing_required_parameter', `Missing required parameter: '${param}'${why}`, param)
  }
  const message = `Invalid ${where}${issue.message}`
  const code = 'invalid_parameter'
  return new ApiError(400, code, message, param)
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  let value = input
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined
    value = (value as Record<PropertyKey, unknown>)[key]
  }
  return value
}

/** A fault of the database or the blob store as the API's 503 with Retry-After, never its text. */
export function faultError(error: unknown): ApiError | undefined {
  const fault = serviceFault(error)
  return fault && new ApiError(503, 'service_unavailable', faultMessage(fault), null, RETRY_AFTER_SECONDS)
}

export function handleError(error: Error, c: Context) {
  if (error instanceof ApiError) {
    if (error.retryAfterSeconds !== undefined) c.header('Retry-After', String(error.retryAfterSeconds))
    return c.json(errorBody(error.code, error.message, error.param, error.details), error.status)
  }
  if (error instanceof BlobKeyError) return c.json(errorBody(error.code, error.message, 'path'), 400)
  // Hono's own HTTPException (for example from bodyLimit) carries its status
  const status = (error as { status?: number }).status
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return c.json(errorBody('invalid_request', error.message), status as ContentfulStatusCode)
  }
  console.error(`${c.req.method} ${c.req.path} failed: ${describeFault(error)}`)
  const fault = faultError(error)
  if (fault) return handleError(fault, c)
  return c.json(errorBody('server_error', 'The server failed to handle this request; it has been logged'), 500)
}
