// Checkpoints of every job of the project, and their downloads: file by file (presigned S3 URLs
// where the store can make them, otherwise URLs of this API that stream each file from the store,
// behind the same API key) or as one tar archive streamed from the store (a signed link, so that a
// browser can save it by following it).
import { Hono } from 'hono'
import { z } from 'zod'
import type { BlobStore } from '../../shared/blob/store.ts'
import { checkBlobKey } from '../../shared/blob/store.ts'
import { type Checkpoint, getCheckpoint, listProjectCheckpoints } from '../../shared/db/checkpoints.ts'
import { findKeyById } from '../../shared/db/api-keys.ts'
import type { Database } from '../../shared/db/database.ts'
import type { Config } from '../../shared/config.ts'
import type { AuthEnv } from '../auth.ts'
import { notFound } from '../errors.ts'
import { ApiError } from '../../shared/errors.ts'
import { readQuery } from '../request.ts'
import { signLink } from '../signed-links.ts'
import { tarSize, tarStream } from '../tar.ts'
import { idParam, list, pageQuery, unixSeconds } from './common.ts'

const format = z.enum(['merged', 'adapter', 'gguf']).default('merged')
export const downloadQuery = z.strictObject({ format })
// a signed link's own parameters travel in its query (signed-links.ts checks them)
export const archiveQuery = z.strictObject({ format, key_id: z.string().optional(), expires: z.string().optional(), signature: z.string().optional() })

export function toCheckpointObject(checkpoint: Checkpoint) {
  return {
    id: checkpoint.id,
    object: 'fine_tuning.job.checkpoint',
    fine_tuning_job_id: checkpoint.jobId,
    // the name chat serves a merged checkpoint under (its id works too); null for other kinds
    fine_tuned_model: checkpoint.modelName ?? (checkpoint.kind === 'merged' ? checkpoint.id : null),
    step_number: checkpoint.step,
    kind: checkpoint.kind,
    formats: Object.keys(checkpoint.files),
    metrics: checkpoint.metrics ?? {},
    created_at: unixSeconds(checkpoint.createdAt),
  }
}

// Links to this API's own file route are built on the configured public URL, never on the request's
// Host header (which a client or a proxy in front can set to anything).
export function checkpointRoutes(db: Database, blobs: BlobStore, { downloadUrlSeconds: urlSeconds, publicUrl = '' }: Pick<Config, 'downloadUrlSeconds' | 'publicUrl'>) {
  const checkpointOf = async (projectId: string, id: string) => {
    const checkpoint = await getCheckpoint(db, projectId, id)
    if (!checkpoint) throw notFound('checkpoint', id)
    return checkpoint
  }
  const filesOf = (checkpoint: { id: string; files: Record<string, unknown[]> }, format: string) => {
    // own keys only: a format such as `__proto__` names no files
    const files = Object.hasOwn(checkpoint.files, format) ? checkpoint.files[format] as { path: string; blobKey: string; bytes: number; sha256: string }[] : undefined
    if (!files) {
      const offered = Object.keys(checkpoint.files).join(', ') || 'none'
      throw new ApiError(404, 'format_unavailable', `Checkpoint ${checkpoint.id} has no '${format}' files (it has: ${offered})`, 'format')
    }
    return files
  }

  const archiveEntries = (checkpoint: Checkpoint, format: string) => filesOf(checkpoint, format).map((file) => ({
    // unpacks into a folder of its own
    path: `${checkpoint.id}-${format}/${file.path}`,
    bytes: file.bytes,
    open: async () => {
      const body = await blobs.get(file.blobKey)
      if (!body) throw new Error(`the stored object for '${file.path}' is missing`)
      return body
    },
  }))

  return new Hono<AuthEnv>()
    .get('/', async (c) => {
      const query = readQuery(c, pageQuery)
      const page = await listProjectCheckpoints(db, c.get('principal').projectId, query.after, query.limit)
      if (page === 'invalid_cursor') throw new ApiError(400, 'invalid_cursor', `No checkpoint '${query.after}' to page after`, 'after')
      return c.json(list(page.data.map(toCheckpointObject), page.hasMore))
    })
    .get('/:id', async (c) => c.json(toCheckpointObject(await checkpointOf(c.get('principal').projectId, idParam(c, 'checkpoint')))))
    .get('/:id/download', async (c) => {
      const principal = c.get('principal')
      const checkpoint = await checkpointOf(principal.projectId, idParam(c, 'checkpoint'))
      const { format } = readQuery(c, downloadQuery)
      const expiresAt = Math.floor(Date.now() / 1000) + urlSeconds
      const stored = filesOf(checkpoint, format)
      const files = await Promise.all(stored.map(async (file) => ({
        path: file.path, bytes: file.bytes, sha256: file.sha256,
        url: (await blobs.presignGet(file.blobKey, urlSeconds))
          ?? `${publicUrl}/v1/checkpoints/${checkpoint.id}/files/${format}/${file.path}`,
      })))
      const key = await findKeyById(db, principal.keyId)
      const archivePath = `/v1/checkpoints/${checkpoint.id}/archive`
      return c.json({
        object: 'checkpoint.download', checkpoint_id: checkpoint.id, format,
        // stream URLs of this API need the API key; presigned ones need nothing until they expire
        expires_at: blobs.kind === 's3' ? expiresAt : null, files,
        // every file in one tar, by a link that needs no key until it expires
        archive: {
          url: publicUrl + await signLink(key!, archivePath, { format }, expiresAt),
          filename: `${checkpoint.id}-${format}.tar`, bytes: tarSize(archiveEntries(checkpoint, format)), expires_at: expiresAt,
        },
      })
    })
    .get('/:id/archive', async (c) => {
      const checkpoint = await checkpointOf(c.get('principal').projectId, idParam(c, 'checkpoint'))
      const { format } = readQuery(c, archiveQuery)
      const entries = archiveEntries(checkpoint, format)
      // a file the store has lost is a clear 404 now rather than an archive cut off in the middle
      const sizes = await Promise.all(filesOf(checkpoint, format).map((file) => blobs.size(file.blobKey)))
      const missing = filesOf(checkpoint, format).find((_, i) => sizes[i] === null)
      if (missing) throw new ApiError(404, 'not_found', `The stored object for '${missing.path}' is missing`, 'format')
      return new Response(tarStream(entries, unixSeconds(checkpoint.createdAt)!), {
        headers: {
          'content-type': 'application/x-tar',
          'content-length': String(tarSize(entries)),
          'content-disposition': `attachment; filename="${checkpoint.id}-${format}.tar"`,
        },
      })
    })
    .get('/:id/files/:format/:path{.+}', async (c) => {
      const checkpoint = await checkpointOf(c.get('principal').projectId, idParam(c, 'checkpoint'))
      // Hono has decoded the parameter once already; decoding again would read `%25` as `%`
      const path = checkBlobKey(c.req.param('path'))
      const file = filesOf(checkpoint, c.req.param('format')).find((f) => f.path === path)
      if (!file) throw new ApiError(404, 'not_found', `Checkpoint ${checkpoint.id} has no file '${path}'`, 'path')
      const body = await blobs.get(file.blobKey)
      if (!body) throw new ApiError(404, 'not_found', `The stored object for '${path}' is missing`, 'path')
      return new Response(body, {
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(file.bytes),
          'content-disposition': `attachment; filename="${path.split('/').pop()}"`,
        },
      })
    })
}
