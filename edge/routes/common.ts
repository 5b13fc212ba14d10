import type { Context } from 'hono'
import { z } from 'zod'
import { notFound } from '../errors.ts'

export const unixSeconds = (date: Date | null) => (date ? Math.floor(date.getTime() / 1000) : null)

// the shape of every id this API hands out; anything else cannot name an object
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,200}$/

export const pageQuery = z.strictObject({
  after: z.string().regex(ID_PATTERN, 'must be an id from a previous page').optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
})

export const list = <T>(data: T[], hasMore: boolean) => ({ object: 'list' as const, data, has_more: hasMore })

// The `:id` path parameter; a string that no id can have names nothing, so it is a 404.
export function idParam(c: Context, what: string): string {
  const id = c.req.param('id')!
  if (!ID_PATTERN.test(id)) throw notFound(what, id)
  return id
}
