// npm run bench: every benchmark, one after the other, each in its own process (so neither sees
// the other's memory or threads): bench/engine.ts (decode), bench/train.ts (train step),
// bench/upload.ts (memory under upload) and bench/edge-hop.ts (the edge's hop in front of a GPU worker). Their tables go to bench/results/<name>.md (and their sections beside them).
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

for (const bench of ['engine.ts', 'train.ts', 'upload.ts', 'edge-hop.ts']) {
  const run = spawnSync(process.execPath, [...process.execArgv, join(import.meta.dirname, bench)], { stdio: 'inherit' })
  if (run.status !== 0) {
    console.error(`bench/${bench} failed (status ${run.status})`)
    process.exit(1)
  }
}
