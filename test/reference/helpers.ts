// What the reference tests share: where this run's PyTorch fixtures are, the live Python checks
// (test/reference/live.py), and the engine's logits for a left-padded batch.
import { spawn } from 'node:child_process'
import { basename, dirname, join } from 'node:path'
import { inject } from 'vitest'
import { SafetensorsFolder } from '../../gpu-worker/engine/safetensors.ts'
import type { Engine } from '../../gpu-worker/engine/session.ts'

export { removeTempDirs, tempDir } from '../helpers/temp.ts'

export const reference = () => inject('reference')

/** A path inside this run's fixtures (made by PyTorch in this run, or the committed ones). */
export const fixture = (...parts: string[]) => join(reference().fixtures, ...parts)

/** Why the live checks cannot run here, printed once per test file; null when they can. */
export function liveSkipReason(what: string): string | null {
  const { python, pythonMissing } = reference()
  if (python) return null
  const reason = `SKIPPED (${what}): ${pythonMissing}`
  console.warn(reason)
  return reason
}

export type LiveTask =
  | { kind: 'hf-logits'; model: string; inputs: number[][]; out: string }
  | { kind: 'peft-logits'; base: string; adapter: string; inputs: number[][]; out: string }
  | { kind: 'chat-template'; model: string; messages: { role: string; content: string }[] }
  | { kind: 'gguf-read'; file: string; out: string }

/** The logits a live task wrote: [input][position] -> [V]. */
export function liveLogits(file: string, inputs: number[][]): Float64Array[][] {
  const tensors = new SafetensorsFolder(dirname(file), basename(file))
  return inputs.map((ids, k) => {
    const all = tensors.read(`row${k}`, 'float64') as Float64Array
    const V = all.length / ids.length
    return ids.map((_, j) => all.subarray(j * V, (j + 1) * V))
  })
}

/** Runs tasks in one Python process (importing torch costs seconds); resolves their answers in order. */
export function live(tasks: LiveTask[]): Promise<any[]> {
  const python = reference().python
  if (!python) return Promise.reject(new Error(reference().pythonMissing))
  return new Promise((resolve, reject) => {
    const child = spawn(python, [join(import.meta.dirname, 'live.py')], { cwd: import.meta.dirname, stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`live.py exited ${code}:\n${err}`))))
    child.stdin.end(JSON.stringify(tasks))
  })
}

/** The engine's logits (an engine loaded with logits: 'all'): [prompt][position] -> [V]. */
export const engineLogits = (engine: Engine, prompts: number[][]) => engine.promptLogits(prompts)
