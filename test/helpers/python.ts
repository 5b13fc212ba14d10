// The Python for checks that need only its standard library (ports of the published rules run on
// Python itself): python3 on PATH, which every machine that builds the reference venv has. Missing,
// such a check is skipped with this reason; in CI it is an error, never a skip.
import { spawnSync } from 'node:child_process'

export function stdlibPython(what: string): string | null {
  const check = spawnSync('python3', ['-c', 'import json, re, string, sys'], { encoding: 'utf8' })
  if (check.status === 0) return 'python3'
  const reason = `no python3 on PATH (${check.error?.message ?? check.stderr.trim()})`
  if (process.env.CI === 'true') throw new Error(`CI needs python3 for ${what}: ${reason}`)
  console.warn(`SKIPPED (${what}): ${reason}`)
  return null
}
