// Every gradient rule against central finite differences in float64: each operator alone, on
// random inputs, with broadcasting where it has any. The loss is sum(Y * R) for a fixed random R,
// so each check probes a random direction of the output.
import * as ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { Graph } from '../../gpu-worker/engine/onnx.ts'
import { RULES, grad } from '../../gpu-worker/training/autodiff.ts'
import { inferShapes } from '../../gpu-worker/training/graph.ts'
import { f64, finiteDifferences, normals, relativeError, session } from './helpers.ts'

interface Case {
  name: string
  /** Differentiated inputs: shape, and how the random values are shifted/scaled (e.g. positive for Log). */
  inputs: Record<string, { shape: number[]; map?: (v: number) => number }>
  build: (g: Graph, x: Record<string, string>) => string
}

const pos = (v: number) => 0.5 + Math.abs(v)
const CASES: Case[] = [
  { name: 'Add broadcast', inputs: { a: { shape: [2, 3, 4] }, b: { shape: [3, 1] } }, build: (g, x) => g.add(x.a, x.b) },
  { name: 'Sub broadcast', inputs: { a: { shape: [3, 1] }, b: { shape: [2, 3, 4] } }, build: (g, x) => g.sub(x.a, x.b) },
  { name: 'Mul broadcast', inputs: { a: { shape: [2, 3, 4] }, b: { shape: [4] } }, build: (g, x) => g.mul(x.a, x.b) },
  { name: 'Mul by itself', inputs: { a: { shape: [5] } }, build: (g, x) => g.mul(x.a, x.a) },
  { name: 'Div broadcast', inputs: { a: { shape: [2, 3] }, b: { shape: [2, 1], map: pos } }, build: (g, x) => g.div(x.a, x.b) },
  { name: 'Max', inputs: { a: { shape: [2, 3] }, b: { shape: [3] } }, build: (g, x) => g.max(x.a, x.b) },
  { name: 'Min', inputs: { a: { shape: [2, 3] }, b: { shape: [1, 3] } }, build: (g, x) => g.min(x.a, x.b) },
  {
    name: 'Where', inputs: { a: { shape: [2, 3] }, b: { shape: [3] } },
    build: (g, x) => g.where(g.constant([1, 0, 1, 0, 0, 1], 'bool', [2, 3]), x.a, x.b),
  },
  // Values well inside or outside the bounds (a kink is not differentiable).
  { name: 'Clip', inputs: { a: { shape: [8], map: (v) => (Math.abs(v) < 0.6 && Math.abs(v) > 0.4 ? v * 3 : v) } }, build: (g, x) => g.clip(x.a, g.scalar(-0.5), g.scalar(0.5)) },
  { name: 'Neg', inputs: { a: { shape: [4] } }, build: (g, x) => g.neg(x.a) },
  {
    name: 'Identity', inputs: { a: { shape: [4] } },
    build: (g, x) => { g.nodes.push({ op: 'Identity', inputs: [x.a], outputs: ['identity_out'], attrs: {} }); return 'identity_out' },
  },
  { name: 'Exp', inputs: { a: { shape: [2, 3] } }, build: (g, x) => g.exp(x.a) },
  { name: 'Log', inputs: { a: { shape: [2, 3], map: pos } }, build: (g, x) => g.log(x.a) },
  { name: 'Sqrt', inputs: { a: { shape: [2, 3], map: pos } }, build: (g, x) => g.sqrt(x.a) },
  { name: 'Reciprocal', inputs: { a: { shape: [2, 3], map: pos } }, build: (g, x) => g.reciprocal(x.a) },
  { name: 'Sigmoid', inputs: { a: { shape: [2, 3] } }, build: (g, x) => g.sigmoid(x.a) },
  { name: 'Cos', inputs: { a: { shape: [5] } }, build: (g, x) => g.cos(x.a) },
  { name: 'Sin', inputs: { a: { shape: [5] } }, build: (g, x) => g.sin(x.a) },
  { name: 'Softmax', inputs: { a: { shape: [2, 3, 5] } }, build: (g, x) => g.softmax(x.a, -1) },
  { name: 'Softmax axis 1', inputs: { a: { shape: [2, 3, 5] } }, build: (g, x) => g.softmax(x.a, 1) },
  { name: 'LogSoftmax', inputs: { a: { shape: [2, 3, 5] } }, build: (g, x) => g.logSoftmax(x.a, -1) },
  { name: 'ReduceSum keepdims 0', inputs: { a: { shape: [2, 3, 4] } }, build: (g, x) => g.reduceSum(x.a, [0, 2], 0) },
  { name: 'ReduceSum keepdims 1', inputs: { a: { shape: [2, 3, 4] } }, build: (g, x) => g.reduceSum(x.a, [-1], 1) },
  { name: 'ReduceMean', inputs: { a: { shape: [2, 3, 4] } }, build: (g, x) => g.reduceMean(x.a, [-1]) },
  { name: 'Expand', inputs: { a: { shape: [3, 1] } }, build: (g, x) => g.expand(x.a, g.ints([2, 3, 4])) },
  { name: 'MatMul 4D x 2D', inputs: { a: { shape: [2, 3, 4, 5] }, b: { shape: [5, 6] } }, build: (g, x) => g.matmul(x.a, x.b) },
  { name: 'MatMul batch broadcast', inputs: { a: { shape: [2, 1, 4, 5] }, b: { shape: [1, 3, 5, 2] } }, build: (g, x) => g.matmul(x.a, x.b) },
  ...([[0, 0], [0, 1], [1, 0], [1, 1]] as const).map(([tA, tB]): Case => ({
    name: `Gemm transA=${tA} transB=${tB}`,
    inputs: { a: { shape: tA ? [4, 3] : [3, 4] }, b: { shape: tB ? [5, 4] : [4, 5] } },
    build: (g, x) => g.gemm(x.a, x.b, tA, tB),
  })),
  { name: 'Gemm (builder linear)', inputs: { a: { shape: [3, 4] }, b: { shape: [5, 4] } }, build: (g, x) => g.linear(x.a, x.b) },
  {
    name: 'Gather rows, repeated indices', inputs: { a: { shape: [5, 3] } },
    build: (g, x) => g.gather(x.a, g.constant([1, 4, 1, 0, 4, 4], 'int64', [2, 3])),
  },
  {
    name: 'GatherElements (repeated indices)', inputs: { a: { shape: [3, 5] } },
    build: (g, x) => g.gatherElements(x.a, g.constant([4, 0, 4, 1, 2, 2, 2, 3, 0, 1, 1, 4], 'int64', [3, 4]), 1),
  },
  { name: 'ReduceLogSumExp keepdims 0', inputs: { a: { shape: [2, 3, 4] } }, build: (g, x) => g.reduceLogSumExp(x.a, [1], 0) },
  { name: 'ReduceLogSumExp keepdims 1', inputs: { a: { shape: [2, 3, 4] } }, build: (g, x) => g.reduceLogSumExp(x.a, [-1], 1) },
  { name: 'Reshape', inputs: { a: { shape: [2, 3, 4] } }, build: (g, x) => g.reshape(x.a, g.ints([4, -1])) },
  { name: 'Unsqueeze', inputs: { a: { shape: [2, 3] } }, build: (g, x) => g.unsqueeze(x.a, [0, 3]) },
  { name: 'Transpose', inputs: { a: { shape: [2, 3, 4] } }, build: (g, x) => g.transpose(x.a, [2, 0, 1]) },
  { name: 'Concat', inputs: { a: { shape: [2, 3] }, b: { shape: [2, 2] } }, build: (g, x) => g.concat([x.a, x.b, x.a], 1) },
  {
    name: 'Slice', inputs: { a: { shape: [4, 6] } },
    build: (g, x) => g.slice(x.a, g.ints([1, -4]), g.ints([3, 1000]), g.ints([0, -1])),
  },
  { name: 'Cast', inputs: { a: { shape: [3] } }, build: (g, x) => g.cast(x.a, 'float64') },
]

describe('gradient rules vs finite differences (float64)', () => {
  it('covers every rule of the table', () => {
    const tested = new Set(CASES.map((c) => c.name.split(' ')[0]))
    expect([...Object.keys(RULES)].filter((op) => !tested.has(op))).toEqual([])
  })

  for (const [k, c] of CASES.entries()) {
    it(c.name, async () => {
      const g = new Graph('float64')
      const x: Record<string, string> = {}
      const feeds: Record<string, ort.Tensor> = {}
      for (const [name, spec] of Object.entries(c.inputs)) {
        x[name] = g.input(name, 'float64', spec.shape)
        const n = spec.shape.reduce((a, b) => a * b, 1)
        feeds[name] = f64(normals(n, 100 * k + name.charCodeAt(0)).map(spec.map ?? ((v) => v)), spec.shape)
      }
      const y = c.build(g, x)
      const shape = inferShapes(g).get(y)!.shape as number[]
      const r = g.constant([...normals(shape.reduce((a, b) => a * b, 1), 7 + k)], 'float64', shape)
      const loss = g.reduceSum(g.mul(y, r), shape.map((_, i) => i), 0)
      const grads = grad(g, loss, Object.keys(x))
      g.output('loss', loss, 'float64', [])
      for (const name of Object.keys(x)) g.output(`grad.${name}`, grads.get(name)!, 'float64', c.inputs[name].shape)
      const s = await session(g)
      const out = await s.run(feeds)
      const lossOf = async (f: typeof feeds) => (await s.run(f)).loss.data[0] as number
      for (const name of Object.keys(x)) {
        const analytic = out[`grad.${name}`].data as Float64Array
        const [numeric, exact] = await finiteDifferences(lossOf, feeds, name, analytic)
        expect(relativeError(exact, numeric)).toBeLessThan(1e-6)
        expect(Math.max(...exact.map(Math.abs))).toBeGreaterThan(1e-3) // a zero gradient would pass vacuously
      }
    })
  }
})
