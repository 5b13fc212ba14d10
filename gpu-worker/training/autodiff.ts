// Reverse-mode differentiation of an ONNX graph built with the engine's builder: `grad(g, loss,
// params)` appends the backward nodes to the same graph and returns the gradient value of each
// parameter, so one session run gives the loss and every gradient.
//
// One rule per operator, in RULES. A rule gets the node and the gradient of its output and returns
// the gradient of each input (null: no gradient flows there). Broadcasting is undone in one place,
// `unbroadcast`: it sums over the axes an operand was stretched along. Those axes are read from the
// static shapes (gpu-worker/training/graph.ts): a dim counts as broadcast when it is statically 1
// (an Unsqueeze, a keepdims reduction, a constant); a dim only known at run time is taken to equal
// the output's, which holds for every graph the project builds.
import type { Graph, Node } from '../engine/onnx.ts'
import { type Info, inferShapes, isFloat, sliceBounds } from './graph.ts'

interface Ctx {
  g: Graph
  info: (v: string) => Info
  /** Whether input i of the node needs a gradient. */
  needs: (i: number) => boolean
  /** Sums `grad` (whose dims are `gradShape`) down to the shape of `x`. */
  unbroadcast: (grad: string, gradShape: (number | null)[], x: string) => string
}
type Rule = (c: Ctx, n: Node, gy: string) => (string | null)[]

const perm = (n: Node) => (n.attrs.perm as { ints: number[] }).ints
const swapLast = (c: Ctx, x: string) => {
  const r = c.info(x).shape.length
  return c.g.transpose(x, [...Array(r - 2).keys(), r - 1, r - 2])
}
/** The gradient of an elementwise binary op whose local derivatives are da, db (null: not needed). */
const binary = (c: Ctx, n: Node, ga: string | null, gb: string | null) => {
  const out = c.info(n.outputs[0]).shape
  return [ga && c.unbroadcast(ga, out, n.inputs[0]), gb && c.unbroadcast(gb, out, n.inputs[1])]
}
/** Puts a reduced gradient back over the reduced axes: Unsqueeze (keepdims 0) then Expand to x's shape. */
const unreduce = (c: Ctx, n: Node, gy: string, axes: number[]) => {
  const x = n.inputs[0]
  const rank = c.info(x).shape.length
  const kept = n.attrs.keepdims === 0 ? c.g.unsqueeze(gy, axes.map((a) => (a < 0 ? a + rank : a))) : gy
  return c.g.expand(kept, c.g.shape(x))
}
const constAxes = (c: Ctx, v: string) => c.info(v).values as number[]

export const RULES: Record<string, Rule> = {
  Identity: (c, n, gy) => [gy],
  Neg: (c, n, gy) => [c.g.neg(gy)],
  Add: (c, n, gy) => binary(c, n, gy, gy),
  Sub: (c, n, gy) => binary(c, n, gy, c.needs(1) ? c.g.neg(gy) : null),
  Mul: (c, n, gy) => binary(c, n, c.needs(0) ? c.g.mul(gy, n.inputs[1]) : null, c.needs(1) ? c.g.mul(gy, n.inputs[0]) : null),
  // d(a/b) = da/b - (a/b) db/b
  Div: (c, n, gy) => binary(c, n, c.needs(0) ? c.g.div(gy, n.inputs[1]) : null,
    c.needs(1) ? c.g.neg(c.g.mul(gy, c.g.div(n.outputs[0], n.inputs[1]))) : null),
  // The larger (smaller) operand takes the whole gradient; a tie goes to the first.
  Max: (c, n, gy) => minMax(c, n, gy, c.g.greaterOrEqual(n.inputs[0], n.inputs[1])),
  Min: (c, n, gy) => minMax(c, n, gy, c.g.lessOrEqual(n.inputs[0], n.inputs[1])),
  Where: (c, n, gy) => {
    const zero = c.g.scalar(0)
    const out = c.info(n.outputs[0]).shape
    return [null,
      c.needs(1) ? c.unbroadcast(c.g.where(n.inputs[0], gy, zero), out, n.inputs[1]) : null,
      c.needs(2) ? c.unbroadcast(c.g.where(n.inputs[0], zero, gy), out, n.inputs[2]) : null]
  },
  // The bounds are not differentiated; at a bound the gradient passes (as torch.clamp).
  Clip: (c, n, gy) => {
    const [x, lo, hi] = n.inputs
    const inside = c.g.and(c.g.greaterOrEqual(x, lo), c.g.lessOrEqual(x, hi))
    return [c.g.where(inside, gy, c.g.scalar(0)), null, null]
  },
  Exp: (c, n, gy) => [c.g.mul(gy, n.outputs[0])],
  Log: (c, n, gy) => [c.g.div(gy, n.inputs[0])],
  // d sqrt(x) = 1 / (2 y)
  Sqrt: (c, n, gy) => [c.g.div(c.g.mul(gy, c.g.scalar(0.5)), n.outputs[0])],
  // d (1/x) = -y^2
  Reciprocal: (c, n, gy) => [c.g.neg(c.g.mul(gy, c.g.mul(n.outputs[0], n.outputs[0])))],
  // d sigmoid = y (1 - y)
  Sigmoid: (c, n, gy) => [c.g.mul(gy, c.g.mul(n.outputs[0], c.g.sub(c.g.scalar(1), n.outputs[0])))],
  Cos: (c, n, gy) => [c.g.neg(c.g.mul(gy, c.g.sin(n.inputs[0])))],
  Sin: (c, n, gy) => [c.g.mul(gy, c.g.cos(n.inputs[0]))],
  // dx = y * (gy - sum(gy * y))
  Softmax: (c, n, gy) => {
    const y = n.outputs[0]
    const axis = n.attrs.axis as number
    return [c.g.mul(y, c.g.sub(gy, c.g.reduceSum(c.g.mul(gy, y), [axis])))]
  },
  // dx = gy - softmax * sum(gy)
  LogSoftmax: (c, n, gy) => {
    const axis = n.attrs.axis as number
    return [c.g.sub(gy, c.g.mul(c.g.exp(n.outputs[0]), c.g.reduceSum(gy, [axis])))]
  },
  ReduceSum: (c, n, gy) => [unreduce(c, n, gy, constAxes(c, n.inputs[1])), null],
  // The mean divides by the number of reduced elements = size(x) / size(y), known at run time.
  ReduceMean: (c, n, gy) => {
    const count = c.g.div(c.g.cast(c.g.size(n.inputs[0]), c.g.float), c.g.cast(c.g.size(n.outputs[0]), c.g.float))
    return [c.g.div(unreduce(c, n, gy, (n.attrs.axes as { ints: number[] }).ints), count)]
  },
  Expand: (c, n, gy) => [c.unbroadcast(gy, c.info(n.outputs[0]).shape, n.inputs[0]), null],
  // Y[..., n, m] = A[..., n, k] @ B[..., k, m]: dA = dY @ B^T, dB = A^T @ dY, batch dims unbroadcast.
  MatMul: (c, n, gy) => {
    const [a, b] = n.inputs
    const batch = c.info(n.outputs[0]).shape.slice(0, -2)
    return [
      c.needs(0) ? c.unbroadcast(c.g.matmul(gy, swapLast(c, b)), [...batch, ...c.info(a).shape.slice(-2)], a) : null,
      c.needs(1) ? c.unbroadcast(c.g.matmul(swapLast(c, a), gy), [...batch, ...c.info(b).shape.slice(-2)], b) : null,
    ]
  },
  // Y = op(A) op(B) (2-D, no C): each gradient is one Gemm with transpose flags, no transposed copy.
  Gemm: (c, n, gy) => {
    if (n.inputs.length > 2) throw new Error('Gemm with C has no gradient rule')
    const [a, b] = n.inputs
    const tA = (n.attrs.transA ?? 0) as 0 | 1
    const tB = (n.attrs.transB ?? 0) as 0 | 1
    // Only the gradients asked for: a frozen weight's (LoRA's base) would be a whole extra Gemm.
    const da = () => (tA ? c.g.gemm(b, gy, tB, 1) : c.g.gemm(gy, b, 0, tB ? 0 : 1))
    const db = () => (tB ? c.g.gemm(gy, a, 1, tA) : c.g.gemm(a, gy, tA ? 0 : 1, 0))
    return [c.needs(0) ? da() : null, c.needs(1) ? db() : null]
  },
  // Y = data[idx] along axis 0: each row of dY is added into the row of dData it was read from
  // (a scatter-add of M rows, never an [M, V] one-hot).
  Gather: (c, n, gy) => {
    const [data, idx] = n.inputs
    if (((n.attrs.axis as number | undefined) ?? 0) !== 0) throw new Error('Gather gradient: only axis 0')
    const rest = c.info(data).shape.slice(1)
    if (rest.some((d) => d === null)) throw new Error('Gather gradient: the gathered rows need a static shape')
    const rows = c.g.reshape(idx, c.g.ints([-1, 1])) // [M, 1]
    return [c.g.scatterAddRows(zerosLike(c, data), rows, c.g.reshape(gy, c.g.ints([-1, ...(rest as number[])]))), null] // updates [M, rest]
  },
  // Y = data gathered along `axis` at idx (same rank): dData = dY scatter-added back at idx.
  GatherElements: (c, n, gy) => [c.g.scatterAddElements(zerosLike(c, n.inputs[0]), n.inputs[1], gy, n.attrs.axis as number), null],
  // y = log sum exp(x): dx = dy * exp(x - y), broadcast back over the reduced axes.
  ReduceLogSumExp: (c, n, gy) => {
    const [x, y] = [n.inputs[0], n.outputs[0]]
    const rank = c.info(x).shape.length
    const axes = (n.attrs.axes as { ints: number[] }).ints.map((a) => (a < 0 ? a + rank : a))
    const kept = (v: string) => (n.attrs.keepdims === 0 ? c.g.unsqueeze(v, axes) : v)
    return [c.g.mul(kept(gy), c.g.exp(c.g.sub(x, kept(y))))]
  },
  Reshape: (c, n, gy) => [c.g.reshape(gy, c.g.shape(n.inputs[0])), null],
  Unsqueeze: (c, n, gy) => [c.g.reshape(gy, c.g.shape(n.inputs[0])), null],
  Transpose: (c, n, gy) => {
    const p = perm(n)
    const inverse = p.map((_, i) => p.indexOf(i))
    return [c.g.transpose(gy, inverse)]
  },
  // Each input's gradient is its slice of dY along the axis; offsets are sums of the input sizes.
  Concat: (c, n, gy) => {
    const axis = n.attrs.axis as number
    const size = (x: string) => c.g.gather(c.g.shape(x), c.g.ints([axis < 0 ? axis + c.info(x).shape.length : axis]))
    let start = c.g.ints([0])
    return n.inputs.map((x, i) => {
      const end = c.g.add(start, size(x))
      const part = c.needs(i) ? c.g.slice(gy, start, end, c.g.ints([axis])) : null
      start = end
      return part
    })
  },
  // dX is dY padded with zeros back to X's extent; the bounds must be static (as every slice here is).
  Slice: (c, n, gy) => {
    const [x, starts, ends, axesV] = n.inputs
    const shape = c.info(x).shape
    const pads = new Array(2 * shape.length).fill(0)
    constAxes(c, axesV).forEach((a, i) => {
      const axis = a < 0 ? a + shape.length : a
      const bounds = sliceBounds(shape[axis], c.info(starts).values?.[i] ?? null, c.info(ends).values?.[i] ?? null)
      if (!bounds) throw new Error(`Slice gradient: bounds of ${n.outputs[0]} are not static`)
      pads[axis] = bounds[0]
      pads[shape.length + axis] = shape[axis]! - bounds[1]
    })
    return [c.g.pad(gy, c.g.ints(pads)), null, null, null]
  },
  Cast: (c, n, gy) => [c.g.cast(gy, c.info(n.inputs[0]).dtype)],
}

/** Zeros of x's shape and type. */
const zerosLike = (c: Ctx, x: string) => c.g.expand(c.g.scalar(0), c.g.shape(x))

function minMax(c: Ctx, n: Node, gy: string, firstWins: string) {
  const zero = c.g.scalar(0)
  return binary(c, n, c.needs(0) ? c.g.where(firstWins, gy, zero) : null, c.needs(1) ? c.g.where(firstWins, zero, gy) : null)
}

/**
 * A recomputation segment (activation checkpointing): the forward nodes on a path from `input` to
 * any of `outputs`. Its values are not kept for the backward: its nodes are emitted again right
 * before their backward, from `input`, and their gradient rules read those recomputed values, so a
 * segment's activations are alive only while its own backward runs (onnxruntime frees a value
 * after its last consumer). Costs one more forward of the segment; gives identical gradients.
 */
export interface Segment { input: string; outputs: string[] }

export interface GradOptions {
  /** Segments to recompute; each node in at most one. For a transformer: each layer (residual stream in, out), each chunk of the LM head. */
  recompute?: Segment[]
}

/** The layers as recomputation segments: consecutive values of the residual stream. */
export const layerSegments = (residualStream: string[]): Segment[] =>
  residualStream.slice(1).map((output, k) => ({ input: residualStream[k], outputs: [output] }))

/**
 * Appends to `g` the gradient of the scalar `loss` with respect to each of `params` (graph inputs
 * or weights) and returns the gradient value names. Only values on a path from a parameter to the
 * loss are differentiated.
 */
export function grad(g: Graph, loss: string, params: string[], options: GradOptions = {}): Map<string, string> {
  const info = inferShapes(g)
  const forward = [...g.nodes]
  const get = (v: string) => {
    const i = info.get(v)
    if (!i) throw new Error(`unknown value ${v}`)
    return i
  }
  if (get(loss).shape.length !== 0) throw new Error(`loss ${loss} must be a scalar, has shape [${get(loss).shape}]`)
  const fromParams = new Set(params)
  for (const n of forward) if (n.inputs.some((v) => fromParams.has(v) && isFloat(get(v).dtype))) n.outputs.forEach((o) => fromParams.add(o))
  const toLoss = new Set([loss])
  for (const n of [...forward].reverse()) if (n.outputs.some((o) => toLoss.has(o))) n.inputs.forEach((v) => toLoss.add(v))
  const differentiable = (v: string) => fromParams.has(v) && toLoss.has(v) && isFloat(get(v).dtype)

  const grads = new Map<string, string>([[loss, g.scalar(1)]])
  const unbroadcast = (gr: string, gradShape: (number | null)[], x: string) => {
    const xs = get(x).shape
    const lead = gradShape.length - xs.length
    const axes = gradShape.flatMap((d, i) => (i < lead || (xs[i - lead] === 1 && d !== 1) ? [i] : []))
    if (axes.length === 0) return gr
    const summed = g.reduceSum(gr, axes, 1)
    return lead > 0 ? g.reshape(summed, g.shape(x)) : summed
  }

  // Each segment's nodes (indices into `forward`, in order): descendants of its input that are ancestors of an output.
  const producer = new Map(forward.flatMap((n, i) => n.outputs.map((o) => [o, i] as const)))
  const segments = (options.recompute ?? []).map((segment) => {
    const below = new Set([segment.input])
    const inside = new Set<number>()
    forward.forEach((n, i) => { if (n.inputs.some((v) => below.has(v))) { inside.add(i); n.outputs.forEach((o) => below.add(o)) } })
    const above = new Set(segment.outputs)
    const nodes: number[] = []
    for (let i = forward.length - 1; i >= 0; i--) {
      if (!forward[i].outputs.some((o) => above.has(o))) continue
      forward[i].inputs.forEach((v) => above.add(v))
      if (inside.has(i)) nodes.unshift(i)
    }
    const last = Math.max(...segment.outputs.map((o) => producer.get(o) ?? -1))
    if (!nodes.length || last < 0) throw new Error(`recompute: no node leads from ${segment.input} to ${segment.outputs.join(', ')}`)
    return { ...segment, nodes, last }
  })
  const segmentAt = new Map(segments.map((s) => [s.last, s]))
  if (segmentAt.size !== segments.length) throw new Error('recompute: two segments end at the same node')
  // Node index -> the node as its backward sees it (inputs and outputs renamed to recomputed values).
  const recomputed = new Map<number, Node>()
  let previousStart: [string, string] | null = null // the last segment's recomputed input, and that input
  const recompute = (segment: (typeof segments)[number]) => {
    // [a value, a forward value of its shape] (gradients are not in `info`)
    const gys = segment.outputs.flatMap((o) => (grads.has(o) ? [[grads.get(o)!, o]] : []))
    if (!gys.length) return
    // The copies must run when the backward reaches this segment, not right after the forward
    // (which would keep their values alive as long as the originals), and after the segment
    // recomputed before it (siblings, such as the LM head's chunks, would otherwise all be ready
    // at once): so their input depends on those values, through an exact zero (0 * finite sums).
    const before = grads.has(segment.input) ? [grads.get(segment.input)!, segment.input] : previousStart
    const after = [...gys, ...(before ? [before] : [])]
    const sums = after.map(([v, like]) => g.reduceSum(v, [...get(like).shape.keys()], 0))
    const zero = g.mul(sums.reduce((a, b) => g.add(a, b)), g.scalar(0))
    const start = g.add(segment.input, zero)
    info.set(start, get(segment.input))
    previousStart = [start, segment.input]
    const rename = new Map([[segment.input, start]])
    for (const i of segment.nodes) {
      const n = forward[i]
      const copy: Node = { ...n, inputs: n.inputs.map((v) => rename.get(v) ?? v), outputs: n.outputs.map((o) => `${o}.re`) }
      n.outputs.forEach((o, j) => {
        rename.set(o, copy.outputs[j])
        info.set(copy.outputs[j], get(o))
      })
      g.nodes.push(copy)
      recomputed.set(i, copy)
    }
  }

  for (let i = forward.length - 1; i >= 0; i--) {
    const segment = segmentAt.get(i)
    if (segment) recompute(segment)
    const n = forward[i]
    const gy = grads.get(n.outputs[0])
    if (!gy || !n.inputs.some(differentiable)) continue
    const rule = RULES[n.op]
    if (!rule) throw new Error(`no gradient rule for ${n.op}`)
    const ctx: Ctx = { g, info: get, needs: (j) => differentiable(n.inputs[j]), unbroadcast }
    rule(ctx, recomputed.get(i) ?? n, gy).forEach((gx, j) => {
      const x = n.inputs[j]
      if (!gx || !differentiable(x)) return
      const prev = grads.get(x)
      grads.set(x, prev ? g.add(prev, gx) : gx)
    })
  }
  const result = new Map(params.map((p) => {
    const gp = grads.get(p)
    if (!gp) throw new Error(`parameter ${p} does not reach the loss`)
    return [p, gp]
  }))
  // Drop the backward nodes nothing uses (a recomputed segment's own output, a rule's spare
  // value): onnxruntime runs every node, and it orders an unused one last, keeping its inputs
  // (a whole layer's recomputed activations) alive until the end of the run.
  const used = new Set(result.values())
  const kept: Node[] = []
  for (let i = g.nodes.length - 1; i >= forward.length; i--) {
    const n = g.nodes[i]
    if (!n.outputs.some((o) => used.has(o))) continue
    n.inputs.forEach((v) => used.add(v))
    kept.unshift(n)
  }
  g.nodes.splice(forward.length, g.nodes.length - forward.length, ...kept)
  return result
}

/** Declares `value` a graph output under its own name (the engine's `output` renames nodes; this never does). */
export function exposeOutput(g: Graph, name: string, value: string, dtype: Info['dtype'], shape: (number | string)[]): void {
  g.nodes.push({ op: 'Identity', inputs: [value], outputs: [name], attrs: {} })
  g.outputs.push({ name, dtype, shape })
}
