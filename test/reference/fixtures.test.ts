// The committed fixtures (test/reference/fixtures, what machines without PyTorch compare with) must
// be what the reference scripts make: when this run made its own with PyTorch, every file of both
// sets is compared, numbers to 1e-6 relative and float32 tensors to 1e-5 (another CPU rounds the
// last bits differently: PyTorch's float32 LoRA gradients on two AMD EPYC machines differed by
// 1.8e-6 relative; the comparisons with our engine and trainer hold 1e-5 too).
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, basename, join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { SafetensorsFolder } from '../../gpu-worker/engine/safetensors.ts'
import { COMMITTED_FIXTURES } from '../setup/reference.ts'
import { relativeError } from '../training/helpers.ts'
import { liveSkipReason, reference } from './helpers.ts'

const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => (statSync(join(dir, name)).isDirectory() ? files(join(dir, name)) : [join(dir, name)]))

/** Equal JSON values: numbers to 1e-6 relative; lists of strings as sets (Python writes some from sets). */
function expectSameJson(ours: unknown, theirs: unknown, path: string): void {
  if (typeof theirs === 'number') {
    expect(typeof ours, path).toBe('number')
    expect(Math.abs((ours as number) - theirs), path).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(theirs)))
  } else if (Array.isArray(theirs)) {
    expect(Array.isArray(ours) && ours.length === theirs.length, `${path}: length`).toBe(true)
    const strings = theirs.every((v) => typeof v === 'string')
    const [a, b] = strings ? [[...(ours as string[])].sort(), [...theirs].sort()] : [ours as unknown[], theirs]
    b.forEach((v, i) => expectSameJson(a[i], v, `${path}[${i}]`))
  } else if (theirs && typeof theirs === 'object') {
    expect(Object.keys(ours as object).sort(), path).toEqual(Object.keys(theirs).sort())
    for (const [k, v] of Object.entries(theirs)) expectSameJson((ours as Record<string, unknown>)[k], v, `${path}.${k}`)
  } else {
    expect(ours, path).toEqual(theirs)
  }
}

const skip = reference().source === 'pytorch' ? null : liveSkipReason('the committed fixtures compared with freshly made ones')

describe.skipIf(skip !== null)('the committed reference fixtures', () => {
  it('are what the reference scripts make (versions aside)', () => {
    const fresh = reference().fixtures
    const committed = files(COMMITTED_FIXTURES).map((f) => relative(COMMITTED_FIXTURES, f)).sort()
    expect(files(fresh).map((f) => relative(fresh, f)).sort()).toEqual(committed)
    for (const file of committed.filter((f) => f !== 'versions.json')) {
      const [ours, theirs] = [join(fresh, file), join(COMMITTED_FIXTURES, file)]
      if (file.endsWith('.json')) expectSameJson(JSON.parse(readFileSync(ours, 'utf8')), JSON.parse(readFileSync(theirs, 'utf8')), file)
      else if (file.endsWith('.safetensors')) {
        const [a, b] = [new SafetensorsFolder(dirname(ours), basename(ours)), new SafetensorsFolder(dirname(theirs), basename(theirs))]
        expect([...a.tensors.keys()].sort(), file).toEqual([...b.tensors.keys()].sort())
        for (const [name, { dtype }] of b.tensors) {
          expect(relativeError(a.read(name, 'float64'), b.read(name, 'float64')), `${file} ${name}`).toBeLessThan(dtype === 'F32' ? 1e-5 : 1e-6)
        }
      } else expect(readFileSync(ours).equals(readFileSync(theirs)), file).toBe(true)
    }
  })
})
