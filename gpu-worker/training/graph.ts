// What training adds to the engine's graph builder (gpu-worker/engine/onnx.ts, which also holds the
// operators only loss and backward graphs use): static shape inference (ranks, and which dimensions
// are statically 1, which is what broadcasting gradients need).
import { type DType, ELEM_TYPE, type Graph, type Node } from '../engine/onnx.ts'

const DTYPE_OF = new Map(Object.entries(ELEM_TYPE).map(([k, v]) => [v, k as DType]))

/** What is known of a value before running: its type, its dims (null = only known at run time), and for small int64 tensors (shapes, axes) their values. */
export interface Info { dtype: DType; shape: (number | null)[]; values?: (number | null)[] }

export const isFloat = (t: DType) => t === 'float32' || t === 'float64'

/** Known non-1 dims win; a dim that is 1 everywhere stays 1; otherwise unknown. */
function broadcast(...shapes: (number | null)[][]): (number | null)[] {
  const rank = Math.max(...shapes.map((s) => s.length))
  return Array.from({ length: rank }, (_, i) => {
    const dims = shapes.map((s) => s[s.length - rank + i]).filter((d) => d !== undefined)
    const big = dims.find((d) => d !== null && d !== 1)
    if (big !== undefined) return big
    return dims.some((d) => d === null) ? null : 1
  })
}

const norm = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis)
const known = (v: (number | null)[] | undefined, what: string, node: Node): number[] => {
  if (!v || v.some((x) => x === null)) throw new Error(`${node.op} ${node.outputs[0]}: ${what} must be known before running`)
  return v as number[]
}
const prod = (dims: (number | null)[]) => dims.reduce<number | null>((a, b) => (a === null || b === null ? null : a * b), 1)

type InferRule = (ins: Info[], n: Node) => Info
const unary: InferRule = ([x]) => ({ dtype: x.dtype, shape: x.shape })
const elementwise: InferRule = (ins) => ({ dtype: ins[0].dtype, shape: broadcast(...ins.map((i) => i.shape)) })
const compare: InferRule = (ins) => ({ dtype: 'bool', shape: broadcast(...ins.map((i) => i.shape)) })
const reduce = (x: Info, axes: number[], keepdims: boolean): Info => {
  const all = axes.map((a) => norm(a, x.shape.length))
  return { dtype: x.dtype, shape: x.shape.flatMap((d, i) => (all.includes(i) ? (keepdims ? [1] : []) : [d])) }
}

/** Output info per operator, from input infos and attributes. */
const INFER: Record<string, InferRule> = {
  Add: elementwise, Sub: elementwise, Mul: elementwise, Div: elementwise, Max: elementwise, Min: elementwise,
  Equal: compare, Less: compare, LessOrEqual: compare, Greater: compare, GreaterOrEqual: compare, And: compare,
  Neg: unary, Sqrt: unary, Reciprocal: unary, Sigmoid: unary, Cos: unary, Sin: unary, Exp: unary, Log: unary,
  Softmax: unary, LogSoftmax: unary, Clip: unary,
  Identity: ([x]) => x,
  Where: ([c, a, b]) => ({ dtype: a.dtype, shape: broadcast(c.shape, a.shape, b.shape) }),
  Cast: ([x], n) => ({ dtype: DTYPE_OF.get(n.attrs.to as number)!, shape: x.shape, values: x.values }),
  MatMul: ([a, b]) => ({
    dtype: a.dtype,
    shape: [...broadcast(a.shape.slice(0, -2), b.shape.slice(0, -2)), a.shape.at(-2)!, b.shape.at(-1)!],
  }),
  Gemm: ([a, b], n) => ({ dtype: a.dtype, shape: [a.shape[n.attrs.transA ? 1 : 0], b.shape[n.attrs.transB ? 0 : 1]] }),
  Gather: ([data, idx], n) => {
    const axis = norm((n.attrs.axis as number | undefined) ?? 0, data.shape.length)
    const values = data.values && idx.values?.every((i) => i !== null)
      ? idx.values.map((i) => data.values![norm(i!, data.values!.length)]) : undefined
    return { dtype: data.dtype, shape: [...data.shape.slice(0, axis), ...idx.shape, ...data.shape.slice(axis + 1)], values }
  },
  ReduceMean: ([x], n) => reduce(x, (n.attrs.axes as { ints: number[] }).ints, n.attrs.keepdims !== 0),
  ReduceMax: ([x], n) => reduce(x, (n.attrs.axes as { ints: number[] }).ints, n.attrs.keepdims !== 0),
  ReduceMin: ([x], n) => reduce(x, (n.attrs.axes as { ints: number[] }).ints, n.attrs.keepdims !== 0),
  ReduceSum: ([x, axes], n) => reduce(x, known(axes.values, 'axes', n), n.attrs.keepdims !== 0),
  ReduceLogSumExp: ([x], n) => reduce(x, (n.attrs.axes as { ints: number[] }).ints, n.attrs.keepdims !== 0),
  GatherElements: ([data, idx]) => ({ dtype: data.dtype, shape: idx.shape }),
  ScatterElements: ([data]) => data,
  ScatterND: ([data]) => data,
  Reshape: ([x, s], n) => {
    const target = s.values
    if (!target) throw new Error(`Reshape ${n.outputs[0]}: the rank of the target shape must be known`)
    const dims = target.map((d, i) => (d === 0 ? x.shape[i] : d))
    const total = prod(x.shape)
    const rest = prod(dims.filter((d) => d !== -1))
    return { dtype: x.dtype, shape: dims.map((d) => (d === -1 ? (total !== null && rest ? total / rest : null) : d)), values: x.values }
  },
  Transpose: ([x], n) => {
    const perm = (n.attrs.perm as { ints: number[] } | undefined)?.ints ?? x.shape.map((_, i) => x.shape.length - 1 - i)
    return { dtype: x.dtype, shape: perm.map((p) => x.shape[p]) }
  },
  Unsqueeze: ([x, a], n) => {
    const rank = x.shape.length + known(a.values, 'axes', n).length
    const axes = known(a.values, 'axes', n).map((v) => norm(v, rank))
    const rest = [...x.shape]
    return { dtype: x.dtype, shape: Array.from({ length: rank }, (_, i) => (axes.includes(i) ? 1 : rest.shift()!)), values: x.values }
  },
  Concat: (ins, n) => {
    const axis = norm(n.attrs.axis as number, ins[0].shape.length)
    const shape = ins[0].shape.map((d, i) => (i === axis ? ins.reduce<number | null>((s, x) => (s === null || x.shape[i] === null ? null : s + x.shape[i]!), 0) : d))
    const values = ins.every((x) => x.values) && ins[0].shape.length === 1 ? ins.flatMap((x) => x.values!) : undefined
    return { dtype: ins[0].dtype, shape, values }
  },
  Slice: ([x, starts, ends, axesInfo], n) => {
    const axes = known(axesInfo.values, 'axes', n).map((a) => norm(a, x.shape.length))
    const shape = [...x.shape]
    let values = x.values
    axes.forEach((axis, i) => {
      const bounds = sliceBounds(x.shape[axis], starts.values?.[i] ?? null, ends.values?.[i] ?? null)
      shape[axis] = bounds && bounds[1] - bounds[0]
      if (values && x.shape.length === 1) values = bounds ? values.slice(bounds[0], bounds[1]) : undefined
    })
    return { dtype: x.dtype, shape, values }
  },
  Shape: ([x]) => ({ dtype: 'int64', shape: [x.shape.length], values: x.shape }),
  Size: ([x]) => ({ dtype: 'int64', shape: [], values: [prod(x.shape)] }),
  Range: ([start]) => ({ dtype: start.dtype, shape: [null] }),
  Expand: ([x, s], n) => ({ dtype: x.dtype, shape: broadcast(x.shape, s.values ?? known(s.values, 'target rank', n)) }),
  Pad: ([x, p], n) => {
    const pads = known(p.values, 'pads', n)
    return { dtype: x.dtype, shape: x.shape.map((d, i) => (d === null ? null : d + pads[i] + pads[i + x.shape.length])) }
  },
}

/** [begin, end) of a unit-step Slice on a dim of size `dim`, clamped as ONNX does; null if not known. */
export function sliceBounds(dim: number | null, start: number | null, end: number | null): [number, number] | null {
  if (dim === null || start === null || end === null) return null
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim)
  const [b, e] = [clamp(start), clamp(end)]
  return [b, Math.max(b, e)]
}

/** Infers every value of `g` in node order. */
export function inferShapes(g: Graph): Map<string, Info> {
  const info = new Map<string, Info>()
  for (const v of g.inputs) info.set(v.name, { dtype: v.dtype, shape: v.shape.map((d) => (typeof d === 'number' ? d : null)) })
  for (const [name, w] of g.weights) info.set(name, { dtype: w.dtype, shape: w.dims })
  for (const [name, c] of g.constants) {
    const small = c.dtype === 'int64' && c.data.length <= 64
    info.set(name, { dtype: c.dtype, shape: c.dims, values: small ? Array.from(c.data as BigInt64Array, Number) : undefined })
  }
  for (const n of g.nodes) {
    const rule = INFER[n.op]
    if (!rule) throw new Error(`no shape rule for ${n.op}`)
    const ins = n.inputs.map((v) => {
      const i = info.get(v)
      if (!i) throw new Error(`${n.op}: input ${v} is not defined before use`)
      return i
    })
    info.set(n.outputs[0], rule(ins, n))
  }
  return info
}
