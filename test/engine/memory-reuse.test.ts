// Sessions made with `memoryReuse: false` really run without onnxruntime's buffer reuse (a flag the
// C API does not expose, set by the native module: native/ort_session.cc), read off the arena's own
// statistics. The graph has the shape that made reuse costly in training: two layers whose blocks
// have different sizes. With reuse, layer 2's blocks are planned into layer 1's buffers, which stay
// allocated from layer 1 on: every block size is held at once. Without, a block's buffers are freed
// when it ends.
import { afterAll, describe, expect, it } from 'vitest'
import { createSession } from '../../gpu-worker/engine/native.ts'
import { Graph } from '../../gpu-worker/engine/onnx.ts'
import { removeTempDirs, tempDir } from '../helpers/temp.ts'

const WIDTH = 1 << 18 // floats in a block's row: 1 MiB
const BLOCKS = [1, 2, 3, 4] // rows of each layer's blocks

function layeredGraph(dir: string): string {
  const g = new Graph()
  let x = g.input('x', 'float32', [1, WIDTH])
  for (let layer = 0; layer < 2; layer++) {
    const sums = BLOCKS.map((rows) => g.reduceSum(g.exp(g.expand(x, g.ints([rows, WIDTH]))), [0, 1], 0))
    x = g.add(x, sums.reduce((a, b) => g.add(a, b)))
  }
  g.output('y', g.reduceSum(x, [0, 1], 0), 'float32', [])
  return g.save(dir)
}

afterAll(removeTempDirs)

describe('memory reuse switched off', () => {
  it('frees each block when it ends instead of holding every block size from layer 1 on', async () => {
    const path = layeredGraph(tempDir())
    const peak = async (memoryReuse: boolean) => {
      const session = await createSession(path, { threads: 1, optimization: 'disabled', memoryPattern: false, memoryReuse })
      const y = new Float32Array(1)
      await session.run([['x', { type: 'float32', dims: [1, WIDTH], data: new Float32Array(WIDTH).fill(-20) }]], [['y', { type: 'float32', dims: [], data: y }]])
      const stats = session.arenaStats()
      session.release()
      return { y: y[0], maxInUse: stats.MaxInUse }
    }
    const reused = await peak(true)
    const freed = await peak(false)
    const block = WIDTH * 4
    // with reuse, the expanded and the exponentiated values of all four block sizes of layer 1 at
    // once (2 x 10 MiB); without, the largest block's two (2 x 4 MiB) and the running x (1 MiB)
    expect(reused.maxInUse).toBeGreaterThanOrEqual(20 * block)
    expect(freed.maxInUse).toBeLessThan(10 * block)
    expect(freed.y).toBe(reused.y)
    expect(Number.isFinite(freed.y)).toBe(true)
  })
})
