// Dataset uploads (multipart/form-data, like OpenAI's POST /v1/files): validated row by row,
// then stored in the blob store. A file with any bad row is refused with the rows named.
import { Hono } from 'hono'
import { z } from 'zod'
import { type DatasetFormat, type DatasetReport, validateDataset } from '../../datasets/read.ts'
import type { BlobInfo, BlobStore } from '../../shared/blob/store.ts'
import type { Database } from '../../shared/db/database.ts'
import { type StoredFile, getFile, insertFile, listFiles } from '../../shared/db/files.ts'
import { newId } from '../../shared/ids.ts'
import type { AuthEnv } from '../auth.ts'
import { notFound } from '../errors.ts'
import { ApiError } from '../../shared/errors.ts'
import { type Part, boundaryOf, multipartParts } from '../multipart.ts'
import { parseWith, readQuery } from '../request.ts'
import { idParam, list, pageQuery, unixSeconds } from './common.ts'

const PROBLEMS_IN_MESSAGE = 5

// the form's text fields; the file is its part named 'file' (a format that its name does not tell
// comes in a 'format' field before it)
export const uploadFields = z.strictObject({
  purpose: z.enum(['fine-tune', 'evals']),
  format: z.enum(['jsonl', 'parquet']).optional(),
})
const MAX_FIELD_BYTES = 1024

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

// The upload limit as the bytes arrive (Hono's bodyLimit reads a body without Content-Length whole)
function limitedStream(body: ReadableStream<Uint8Array>, maxBytes: number, declared: number): ReadableStream<Uint8Array> {
  const tooLarge = () => new ApiError(413, 'request_too_large', `The upload is larger than the limit of ${maxBytes} bytes`)
  if (declared > maxBytes) throw tooLarge()
  let seen = 0
  return body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      seen += chunk.length
      if (seen > maxBytes) controller.error(tooLarge())
      else controller.enqueue(chunk)
    },
  }))
}

async function fieldText(part: Part): Promise<string> {
  const bytes = new Uint8Array(await new Response(part.body).arrayBuffer())
  if (bytes.length > MAX_FIELD_BYTES) throw new ApiError(400, 'invalid_parameter', `Invalid '${part.name}': longer than ${MAX_FIELD_BYTES} bytes`, part.name)
  return new TextDecoder().decode(bytes)
}

export function fileRoutes(db: Database, blobs: BlobStore, maxUploadBytes: number) {
  // The file part goes to the blob store as it arrives, and through the validator on its way (JSONL
  // one record at a time; parquet gathered for its footer): never the whole body in memory twice.
  async function storeAndValidate(part: Part, givenFormat: string | undefined, keyStem: string) {
    const filename = part.filename!
    if (filename.length > 255 || /[\u0000-\u001f\u007f]/.test(filename) || !filename.isWellFormed()) {
      await part.body.cancel()
      throw new ApiError(400, 'invalid_parameter', "Invalid 'file': must have a file name of at most 255 characters without control characters", 'file')
    }
    let format: DatasetFormat
    try {
      format = formatOf(filename, givenFormat === undefined ? undefined : parseWith(uploadFields.shape.format, givenFormat))
    } catch (error) {
      await part.body.cancel()
      throw error
    }
    const blobKey = `${keyStem}.${format}`
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>()
    const writer = writable.getWriter()
    const storing = blobs.put(blobKey, readable)
    // a store that fails stops the copy (a pending write would wait for it for ever)
    const stopped = storing.then(() => { throw new Error('the blob store finished before the upload did') })
    stopped.catch(() => {})
    const handOn = (write: Promise<void>) => { write.catch(() => {}); return Promise.race([write, stopped]) }
    // the body's own failure (the size limit, a broken or cut-off body) ends the upload, and the
    // store's copy with it; it is not a problem of the file's rows
    let broken: unknown
    async function* passOn() {
      try {
        for await (const chunk of part.body) {
          await handOn(writer.write(chunk))
          yield chunk
        }
        await handOn(writer.close())
      } catch (error) {
        broken = error
        // not awaited: with a write in flight to a failed store, the abort would wait for it for ever
        writer.abort(error).catch(() => {})
        throw error
      }
    }
    try {
      const report = await validateDataset(passOn(), format)
      if (broken) throw broken
      return { filename, format, blobKey, stored: await storing, report }
    } catch (error) {
      await storing.catch(() => {})
      await blobs.delete(blobKey).catch(() => {})
      throw error
    }
  }

  return new Hono<AuthEnv>()
    .post('/', async (c) => {
      const contentType = c.req.header('content-type') ?? ''
      if (!/^multipart\/form-data\b/i.test(contentType)) {
        throw new ApiError(415, 'unsupported_media_type', "Upload the dataset as 'multipart/form-data' with fields 'file' and 'purpose'")
      }
      if (!c.req.raw.body) throw new ApiError(400, 'invalid_multipart', 'The multipart body is empty')
      const body = limitedStream(c.req.raw.body, maxUploadBytes, Number(c.req.header('content-length') ?? 0))
      const { projectId } = c.get('principal')
      const id = newId('file')
      const text: Record<string, string> = {}
      let upload: { filename: string; format: DatasetFormat; blobKey: string; stored: BlobInfo; report: DatasetReport } | undefined
      try {
        for await (const part of multipartParts(body, boundaryOf(contentType))) {
          if (part.filename === undefined) {
            text[part.name] = await fieldText(part)
            continue
          }
          if (part.name !== 'file' || upload) {
            await part.body.cancel()
            throw new ApiError(400, 'invalid_parameter', `Invalid '${part.name}': send one file, as the part named 'file'`, part.name)
          }
          upload = await storeAndValidate(part, text.format, `projects/${projectId}/files/${id}`)
        }
        const fields = parseWith(uploadFields, text)
        if (!upload) throw new ApiError(400, 'missing_required_parameter', "Missing required parameter: 'file'", 'file')
        const { filename, format, blobKey, stored, report } = upload
        if (report.rowCount === 0 && report.problems.length === 0) {
          throw new ApiError(400, 'invalid_file', `'${filename}' holds no rows`, 'file')
        }
        if (report.problems.length > 0) {
          const shown = report.problems.slice(0, PROBLEMS_IN_MESSAGE).map((p) => `row ${p.row}, field ${p.field}: ${p.reason}`)
          const more = report.problems.length > PROBLEMS_IN_MESSAGE ? `; and ${report.problems.length - PROBLEMS_IN_MESSAGE} more` : ''
          throw new ApiError(400, 'invalid_file', `'${filename}' has ${report.problems.length} problem(s): ${shown.join('; ')}${more}`, 'file')
        }
        const file = await insertFile(db, {
          id, projectId, filename, purpose: fields.purpose, blobKey, bytes: stored.bytes,
          sha256: stored.sha256, format, rowCount: report.rowCount,
          validation: { problems: [], sample: report.sample },
        })
        return c.json(toFileObject(file), 201)
      } catch (error) {
        // no row names the object: it must not stay behind
        if (upload) await blobs.delete(upload.blobKey).catch(() => {})
        throw error
      }
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
