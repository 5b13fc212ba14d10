// Weight-only quantization (8 and 4 bits, MatMulNBits) against the fp32 engine on the same
// checkpoint, teacher-forced over a few hundred positions: the logits stay close and the greedy
// choice agrees at most positions for 8 bits; 4 bits (symmetric blocks of 32, int8 activations)
// is much rougher on these random weights. Figures at real geometry: bench/results/engine/quality.md (npm run bench:engine -- --only quality).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Engine } from '../../gpu-worker/engine/session.ts'
import { makeTinyCheckpoint } from '../../gpu-worker/engine/tiny.ts'
import { TEST_ENGINE } from '../helpers/engine.ts'
import { removeTempDirs, tempDir } from './helpers.ts'

let dir: string
beforeAll(() => {
  dir = tempDir()
  makeTinyCheckpoint(dir, { seed: 12, hiddenSize: 256, intermediateSize: 512, numLayers: 3, numHeads: 8, numKvHeads: 4, headDim: 32 })
})
afterAll(removeTempDirs)

const sequences = Array.from({ length: 4 }, (_, s) => Array.from({ length: 80 }, (_, i) => (s * 61 + i * 17 + ((i * i) % 7)) % 280))
const argmax = (v: Float32Array) => v.reduce((best, x, i) => (x > v[best] ? i : best), 0)

async function logits(quantize?: 8 | 4) {
  const engine = await Engine.load(dir, { ...TEST_ENGINE, cacheDir: tempDir(), logits: 'all', quantize })
  try {
    return (await engine.promptLogits(sequences)).flat()
  } finally {
    await engine.dispose()
  }
}

describe('quantized weights', () => {
  it('8 and 4 bits: logits near fp32 and the same greedy token at most of 320 positions', async () => {
    const fp32 = await logits()
    for (const [bits, maxError, minAgreement] of [[8, 0.1, 0.9], [4, 1.0, 0.35]] as const) {
      const q = await logits(bits)
      let worst = 0
      let agree = 0
      q.forEach((row, i) => {
        const scale = fp32[i].reduce((m, x) => Math.max(m, Math.abs(x)), 0)
        worst = Math.max(worst, row.reduce((m, x, j) => Math.max(m, Math.abs(x - fp32[i][j])), 0) / scale)
        if (argmax(row) === argmax(fp32[i])) agree++
      })
      console.log(`${bits}-bit: largest relative logit error ${worst.toFixed(4)}, greedy agreement ${agree}/${q.length}`)
      expect(worst).toBeGreaterThan(0) // quantized indeed
      expect(worst).toBeLessThan(maxError)
      expect(agree / q.length).toBeGreaterThan(minAgreement)
    }
  })
})
