// Reading and validating requests: JSON bodies, query strings and body size limits.
import type { Context, MiddlewareHandler } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import type { z } from 'zod'
import { fromZodError } from './errors.ts'
import { ApiError } from '../shared/errors.ts'
import { unstorable } from '../shared/text.ts'

export async function readJson<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> {
  const type = c.req.header('content-type') ?? ''
  if (!/^application\/json\b/i.test(type)) {
    throw new ApiError(415, 'unsupported_media_type', `Expected 'Content-Type: application/json', got '${type || 'none'}'`)
  }
  let body: unknown
  try {
    body = JSON.parse(await c.req.text(), (key, value) => {
      checkStorableText(key)
      if (typeof value === 'string') checkStorableText(value)
      return value
    })
  } catch (error) {
    throw new ApiError(400, 'invalid_json', `The request body is not valid JSON: ${(error as Error).message}`)
  }
  return parseWith(schema, body)
}

function checkStorableText(value: string): void {
  const why = unstorable(value)
  if (why) throw new Error(`a string ${why}, which cannot be stored`)
}

export function readQuery<T extends z.ZodType>(c: Context, schema: T): z.infer<T> {
  return parseWith(schema, c.req.query())
}

export function parseWith<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const parsed = schema.safeParse(value)
  if (!parsed.success) throw fromZodError(parsed.error, value)
  return parsed.data
}

// `work` must start its answer within `ms`, or the request is answered 503 (the work itself goes on
// until it finishes or fails; its result is dropped).
export async function withDeadline(ms: number, work: () => Promise<void>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ApiError(503, 'request_timeout', `The server could not answer within ${ms / 1000} s (the database may be stalled); retry later`)), ms)
  })
  try {
    await Promise.race([work(), deadline])
  } finally {
    clearTimeout(timer)
  }
}

export function limitBody(maxBytes: number): MiddlewareHandler {
  const tooLarge = () => {
    throw new ApiError(413, 'request_too_large', `The request body is larger than the limit of ${maxBytes} bytes`)
  }
  const counted = bodyLimit({ maxSize: maxBytes, onError: tooLarge })
  // A declared length is checked from the header alone, as bodyLimit does, but without asking for
  // the body first: under Node that question alone builds a whole web Request per call (a GET or a
  // HEAD has no body to limit). Only a body of unknown length is counted as it is read.
  return async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next()
    const length = c.req.header('content-length')
    if (length === undefined || c.req.header('transfer-encoding') !== undefined) return counted(c, next)
    if (Number.parseInt(length, 10) > maxBytes) tooLarge()
    return next()
  }
}

/**
 * Runs every check of a request (each may throw the API's 4xx error) and throws all the problems
 * they found together, the first as the error and every one in `error.details`.
 */
export async function checkAll(checks: (() => unknown)[]): Promise<void> {
  const problems: ApiError[] = []
  for (const check of checks) {
    try {
      await check()
    } catch (error) {
      if (!(error instanceof ApiError) || error.status >= 500) throw error
      problems.push(error)
    }
  }
  if (problems.length) throw ApiError.ofAll(problems)
}
