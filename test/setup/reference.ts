// The PyTorch side of the reference checks (test/reference/README.md), found once per test run:
// the Python of test/reference/setup-venv.sh (or PROMPT_R1_REFERENCE_PYTHON), and the fixtures its
// scripts write. With that Python the fixtures are made by PyTorch in this run (kept under .cache/,
// keyed by the scripts' contents, so a rerun reuses them); without it the committed fixtures are
// read and the checks that need PyTorch live are reported as skipped, with the reason.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'

const ROOT = join(import.meta.dirname, '..', '..')
const SCRIPTS = join(ROOT, 'test', 'reference')
export const COMMITTED_FIXTURES = join(SCRIPTS, 'fixtures')
const PACKAGES = 'import torch, transformers, peft, trl, sentence_transformers, gguf'

export interface ReferenceSetup {
  /** The fixtures this run compares with. */
  fixtures: string
  /** 'pytorch': made by the reference scripts with PyTorch for these scripts; 'committed': test/reference/fixtures. */
  source: 'pytorch' | 'committed'
  /** The Python that runs the live checks, or null. */
  python: string | null
  /** Why there is none (empty when there is). */
  pythonMissing: string
}

/** The key of everything the fixtures depend on: the scripts and the pinned packages. */
export function scriptsKey(): string {
  const hash = createHash('sha256')
  for (const file of readdirSync(SCRIPTS).filter((f) => f.endsWith('.py') || f === 'requirements.txt').sort()) {
    hash.update(file).update(readFileSync(join(SCRIPTS, file)))
  }
  return hash.digest('hex').slice(0, 16)
}

function findPython(): { python: string | null; missing: string } {
  const python = process.env.PROMPT_R1_REFERENCE_PYTHON || join(ROOT, '.venv-reference', 'bin', 'python')
  if (!existsSync(python)) return { python: null, missing: `no reference Python at ${python} (make it with test/reference/setup-venv.sh)` }
  const check = spawnSync(python, ['-c', PACKAGES], { encoding: 'utf8', timeout: 180_000 })
  if (check.status !== 0) {
    const why = (check.stderr || check.error?.message || '').trim().split('\n').at(-1)
    return { python: null, missing: `${python} cannot ${PACKAGES}: ${why}` }
  }
  return { python, missing: '' }
}

/** Runs a reference script into a fresh folder under .cache/reference/, once per key. */
export function makeFixtures(python: string, name: string, args: string[]): string {
  const dir = join(ROOT, '.cache', 'reference', name)
  if (existsSync(join(dir, 'versions.json'))) return dir
  const partial = `${dir}.partial-${process.pid}`
  rmSync(partial, { recursive: true, force: true })
  mkdirSync(partial, { recursive: true })
  const started = performance.now()
  const run = spawnSync(python, [join(SCRIPTS, 'make_fixtures.py'), '--out', partial, ...args], { encoding: 'utf8', timeout: 900_000, cwd: SCRIPTS })
  if (run.status !== 0) throw new Error(`test/reference/make_fixtures.py ${args.join(' ')} failed:\n${run.stderr}`)
  rmSync(dir, { recursive: true, force: true })
  renameSync(partial, dir)
  console.log(`reference fixtures ${name}: made by PyTorch in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  return dir
}

export function setupReference(): ReferenceSetup {
  const { python, missing } = findPython()
  if (!python) {
    console.warn(`PyTorch references: ${missing}. The committed fixtures are used; the checks against live PyTorch are skipped.`)
    return { fixtures: COMMITTED_FIXTURES, source: 'committed', python: null, pythonMissing: missing }
  }
  return { fixtures: makeFixtures(python, scriptsKey(), []), source: 'pytorch', python, pythonMissing: '' }
}
