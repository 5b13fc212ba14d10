// Dataset uploads (multipart/form-data, like OpenAI's POST /v1/files): validated row by row,
// then stored in the blob store. A file with any bad row is refused with the rows named.
import { Hono } from 'hono'
import { z } from 'zod'
import { type DatasetFormat, validateDatasetBytes } from '../../datasets/read.ts'
import type { BlobStore } from '../../shared/blob/store.ts'
import type { Database } from '../../shared/db/database.ts'
import { type StoredFile, getFile, insertFile, listFiles } from '../../shared/db/files.ts'
import { newId } from '../../shared/ids.ts'
import type { AuthEnv } from '../auth.ts'
import { notFound } from '../errors.ts'
import { ApiError } from '../../shared/errors.ts'
import { limitBody, parseWith, readQuery } from '../request.ts'
import { idParam, list, pageQuery, unixSeconds } from './common.ts'

const PROBLEMS_IN_MESSAGE = 5

const uploadFields = z.strictObject({
  file: z.instanceof(File, { message: 'must be a file part' })
    .refine((f) => f.name.length <= 255 && !/[\u0000-\u001f\u007f]/.test(f.name) && f.name.isWellFormed(),
      'must have a file name of at most 255 characters without control characters'),
  purpose: z.enum(['fine-tune', 'evals']),
  format: z.enum(['jsonl', 'parquet']).optional(),
})

function toFileObject(file: StoredFile) {
  return {
    id: file.id, object: 'file', filename: file.filename, purpose: file.purpose, bytes: file.bytes,
    sha256: file.sha256, format: file.format, row_count: file.rowCount, status: 'processed',
    validation: file.validation, created_at: unixSeconds(file.createdAt),
  }
}

function formatOf(filename: string, given?: DatasetFormat): DatasetFormat {
  if (given) return given
  if (/\.jsonl$/i.test(filename)) return 'jsonl'
  if (/\.parquet$/i.test(filename)) return 'parquet'
  throw new ApiError(400, 'unsupported_file_format',
    `Cannot tell the format of '${filename}': name it *.jsonl or *.parquet, or send a 'format' field`, 'file')
}

export function fileRoutes(db: Database, blobs: BlobStore, maxUploadBytes: number) {
  return new Hono<AuthEnv>()
    .post('/', limitBody(maxUploadBytes), async (c) => {
      if (!/^multipart\/form-data\b/i.test(c.req.header('content-type') ?? '')) {
        throw new ApiError(415, 'unsupported_media_type', "Upload the dataset as 'multipart/form-data' with fields 'file' and 'purpose'")
      }
      let form: Record<string, unknown>
      try {
        form = await c.req.parseBody()
      } catch (error) {
        throw new ApiError(400, 'invalid_multipart', `The multipart body could not be read: ${(error as Error).message}`)
      }
      const fields = parseWith(uploadFields, form)
      const format = formatOf(fields.file.name, fields.format)
      const bytes = new Uint8Array(await fields.file.arrayBuffer())
      const report = await validateDatasetBytes(bytes, format)
      if (report.rowCount === 0 && report.problems.length === 0) {
        throw new ApiError(400, 'invalid_file', `'${fields.file.name}' holds no rows`, 'file')
      }
      if (report.problems.length > 0) {
        const shown = report.problems.slice(0, PROBLEMS_IN_MESSAGE).map((p) => `row ${p.row}, field ${p.field}: ${p.reason}`)
        const more = report.problems.length > PROBLEMS_IN_MESSAGE ? `; and ${report.problems.length - PROBLEMS_IN_MESSAGE} more` : ''
        throw new ApiError(400, 'invalid_file',
          `'${fields.file.name}' has ${report.problems.length} problem(s): ${shown.join('; ')}${more}`, 'file')
      }
      const { projectId } = c.get('principal')
      const id = newId('file')
      const blobKey = `projects/${projectId}/files/${id}.${format}`
      const stored = await blobs.put(blobKey, bytes)
      const file = await insertFile(db, {
        id, projectId, filename: fields.file.name, purpose: fields.purpose, blobKey, bytes: stored.bytes,
        sha256: stored.sha256, format, rowCount: report.rowCount,
        validation: { problems: [], sample: report.sample },
      }).catch(async (error) => {
        // no row names the object: it must not stay behind
        await blobs.delete(blobKey).catch(() => {})
        throw error
      })
      return c.json(toFileObject(file), 201)
    })
    .get('/', async (c) => {
      const query = readQuery(c, pageQuery)
      const { projectId } = c.get('principal')
      const after = query.after ? await getFile(db, projectId, query.after) : undefined
      if (query.after && !after) throw new ApiError(400, 'invalid_cursor', `No file '${query.after}' to page after`, 'after')
      const page = await listFiles(db, projectId, after, query.limit)
      return c.json(list(page.data.map(toFileObject), page.hasMore))
    })
    .get('/:id', async (c) => {
      const id = idParam(c, 'file')
      const file = await getFile(db, c.get('principal').projectId, id)
      if (!file) throw notFound('file', id)
      return c.json(toFileObject(file))
    })
}
