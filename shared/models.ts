// What a job or a request may name as its model. A name is a path on the worker, so a tenant who
// could name any folder could run another project's checkpoint (or any file tree) by its location:
// only the Hugging Face hub (`hf:owner/name`), a checkpoint id of the caller's own project, a
// built-in sample agent (`builtin:arithmetic-agent`, made on the worker, no download), and folders
// inside the operator's model folders (PROMPT_R1_MODEL_FOLDERS) are accepted. The edge
// checks the name as written; the worker checks the folder again where its links lead.
import { posix } from 'node:path'
import { ApiError } from './errors.ts'

export type ModelReference =
  | { kind: 'hub'; id: string }
  | { kind: 'checkpoint'; id: string }
  | { kind: 'folder'; path: string }
  | { kind: 'builtin'; name: BuiltinModelName }

// The tiny sample agent of the demo (gpu-worker/training/arithmetic-task.ts, sampleAgent)
export const BUILTIN_MODELS = ['arithmetic-agent'] as const
export type BuiltinModelName = (typeof BUILTIN_MODELS)[number]

const HUB = /^hf:([A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*)$/
const CHECKPOINT = /^ckpt-[A-Za-z0-9]+$/

export function insideFolder(path: string, folder: string): boolean {
  const root = folder.endsWith('/') ? folder : `${folder}/`
  return path === folder || path.startsWith(root)
}

export function parseModelReference(raw: string, modelFolders: string[], param = 'model'): ModelReference {
  const hub = HUB.exec(raw)
  if (hub) return { kind: 'hub', id: hub[1] }
  if (CHECKPOINT.test(raw)) return { kind: 'checkpoint', id: raw }
  const forms = `give hf:owner/name (the Hugging Face hub), a checkpoint id of this project (ckpt-...), a built-in sample agent (${BUILTIN_MODELS.map((m) => `builtin:${m}`).join(', ')}), or a folder inside this server's model folders (PROMPT_R1_MODEL_FOLDERS)`
  if (raw.startsWith('builtin:')) {
    const name = raw.slice('builtin:'.length)
    if (BUILTIN_MODELS.includes(name as BuiltinModelName)) return { kind: 'builtin', name: name as BuiltinModelName }
    throw new ApiError(400, 'model_not_allowed', `Invalid '${param}': no built-in model '${name}'; ${forms}`, param)
  }
  if (!raw.startsWith('/')) {
    const hint = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(raw) ? ` (for the hub, write 'hf:${raw}')` : ''
    throw new ApiError(400, 'model_not_allowed', `Invalid '${param}': ${forms}${hint}`, param)
  }
  const path = posix.normalize(raw).replace(/\/+$/, '')
  if (raw.split('/').includes('..') || !modelFolders.some((folder) => insideFolder(path, folder))) {
    throw new ApiError(400, 'model_not_allowed', `Invalid '${param}': the folder is not inside this server's model folders; ${forms}`, param)
  }
  return { kind: 'folder', path }
}
