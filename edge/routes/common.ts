import { z } from 'zod'

export const unixSeconds = (date: Date | null) => (date ? Math.floor(date.getTime() / 1000) : null)

export const pageQuery = z.strictObject({
  after: z.string().min(1).max(200).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
})

export const list = <T>(data: T[], hasMore: boolean) => ({ object: 'list' as const, data, has_more: hasMore })
