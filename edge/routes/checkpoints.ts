// Checkpoint downloads: presigned S3 URLs where the store can make them, otherwise URLs of this
// API that stream each file from the store (behind the same API key).
import { Hono } from 'hono'
import { z } from 'zod'
import type { BlobStore } from '../../shared/blob/store.ts'
import { checkBlobKey } from '../../shared/blob/store.ts'
import { getCheckpoint } from '../../shared/db/checkpoints.ts'
import type { Database } from '../../shared/db/database.ts'
import type { Config } from '../../shared/config.ts'
import type { AuthEnv } from '../auth.ts'
import { notFound } from '../errors.ts'
import { ApiError } from '../../shared/errors.ts'
import { readQuery } from '../request.ts'
import { idParam } from './common.ts'

const downloadQuery = z.strictObject({ format: z.enum(['merged', 'adapter', 'gguf']).default('merged') })

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

  return new Hono<AuthEnv>()
    .get('/:id/download', async (c) => {
      const checkpoint = await checkpointOf(c.get('principal').projectId, idParam(c, 'checkpoint'))
      const { format } = readQuery(c, downloadQuery)
      const expiresAt = Math.floor(Date.now() / 1000) + urlSeconds
      const files = await Promise.all(filesOf(checkpoint, format).map(async (file) => ({
        path: file.path, bytes: file.bytes, sha256: file.sha256,
        url: (await blobs.presignGet(file.blobKey, urlSeconds))
          ?? `${publicUrl}/v1/checkpoints/${checkpoint.id}/files/${format}/${file.path}`,
      })))
      return c.json({
        object: 'checkpoint.download', checkpoint_id: checkpoint.id, format,
        // stream URLs of this API need the API key; presigned ones need nothing until they expire
        expires_at: blobs.kind === 's3' ? expiresAt : null, files,
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
