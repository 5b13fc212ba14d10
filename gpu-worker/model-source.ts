// The one place a worker turns a model reference (shared/models.ts) into something the engine can
// load, with the caller's right to it checked: a checkpoint only of the job's own project, a
// folder only where its real path (links followed) is inside an operator's model folder; a built-in
// sample agent is made here the first time it is named.
import { realpathSync } from 'node:fs'
import type { BlobStore } from '../shared/blob/store.ts'
import { getCheckpoint } from '../shared/db/checkpoints.ts'
import type { Database } from '../shared/db/database.ts'
import { insideFolder, parseModelReference } from '../shared/models.ts'
import { type ModelSource, defaultCacheDir } from './engine/checkpoint.ts'
import { sampleAgent } from './training/arithmetic-task.ts'

// cacheDir: where a built-in sample agent is made (default: the checkpoint cache's)
export interface ModelAccess { db: Database; blobs: BlobStore; projectId: string; modelFolders: string[]; cacheDir?: string }

export async function modelSource(raw: string, access: ModelAccess, param = 'model'): Promise<ModelSource> {
  const reference = parseModelReference(raw, access.modelFolders, param)
  if (reference.kind === 'hub') return `hf:${reference.id}`
  if (reference.kind === 'builtin') return sampleAgent(access.cacheDir ?? defaultCacheDir())
  if (reference.kind === 'checkpoint') {
    const checkpoint = await getCheckpoint(access.db, access.projectId, reference.id)
    const files = checkpoint?.files.merged ?? checkpoint?.files.full
    if (!checkpoint) throw new Error(`${param}: no checkpoint ${reference.id} in this project`)
    if (!files?.length) throw new Error(`${param}: checkpoint ${reference.id} has no merged or full model files`)
    const key = files[0].blobKey
    return { store: access.blobs, prefix: key.slice(0, key.lastIndexOf('/')) }
  }
  const real = realpathSync(reference.path)
  const realFolder = (folder: string) => { try { return realpathSync(folder) } catch { return undefined } }
  if (!access.modelFolders.some((folder) => { const root = realFolder(folder); return root !== undefined && insideFolder(real, root) })) {
    throw new Error(`${param}: ${reference.path} leads outside this server's model folders`)
  }
  return real
}
