// What this worker can load from the Hugging Face hub, for its heartbeat (workers.hub): whether the
// hub answers (HF_ENDPOINT, as checkpoint.ts downloads from it) and which hub models its cache holds
// complete. The edge refuses at submit a job whose hf: model no live worker can load
// (edge/routes/training-jobs.ts), instead of a worker failing it minutes later.
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { HubAccess } from '../shared/db/schema.ts'

// the hub is asked again this often: a machine's network comes and goes slowly
const PROBE_EVERY_MS = 10 * 60_000
const PROBE_TIMEOUT_MS = 5_000

/** The hub models complete in `cacheDir` (as fromHub lays them out: hub/owner--name/revision/.complete). */
export function cachedHubModels(cacheDir: string): string[] {
  const hub = join(cacheDir, 'hub')
  if (!existsSync(hub)) return []
  const models: string[] = []
  for (const repo of readdirSync(hub).sort()) {
    const [owner, ...name] = repo.split('--')
    if (name.length === 0) continue
    for (const revision of readdirSync(join(hub, repo)).sort()) {
      if (existsSync(join(hub, repo, revision, '.complete'))) models.push(`${owner}/${name.join('--')}${revision === 'main' ? '' : `@${revision}`}`)
    }
  }
  return models
}

/** Whether the hub answers at all (any HTTP status): a refused connection, a failed lookup or no answer in 5 s is false. */
export async function hubReachable(endpoint: string): Promise<boolean> {
  try {
    await fetch(endpoint, { method: 'HEAD', signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) })
    return true
  } catch {
    return false
  }
}

/**
 * The worker's HubAccess as of now: the cache listed on every call, the hub probed in the
 * background at most every 10 minutes (reachable is null until the first probe answers).
 */
export function hubAccessProbe(cacheDir: string, endpoint = process.env.HF_ENDPOINT ?? 'https://huggingface.co'): () => HubAccess {
  let reachable: boolean | null = null
  let probedAt = -Infinity
  return () => {
    if (Date.now() - probedAt > PROBE_EVERY_MS) {
      probedAt = Date.now()
      void hubReachable(endpoint).then((answer) => { reachable = answer })
    }
    return { reachable, cached: cachedHubModels(cacheDir) }
  }
}
