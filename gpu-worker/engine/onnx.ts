// A small ONNX graph builder. Values are named strings; every operator the project uses goes
// through exactly one builder method below, so reverse-mode differentiation (gpu-worker/training)
// needs one gradient rule per method it meets; the serving-only operators (onnxruntime's contrib
// domain: GroupQueryAttention, MatMulNBits) have none and never reach a training graph. Weights are initializers
// whose bytes are produced lazily when the model is saved, so a multi-GB checkpoint is streamed
// into the external-data file one tensor at a time and a >2 GB model still loads.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import protobuf from 'protobufjs'

// The subset of onnx/onnx.proto (ONNX IR 8) that the builder writes; field numbers are the official ones.
const ONNX_PROTO = `
syntax = "proto2";
package onnx;
message AttributeProto {
  optional string name = 1; optional int32 type = 20; optional int64 i = 3; optional bytes s = 4; repeated int64 ints = 8;
}
message ValueInfoProto { optional string name = 1; optional TypeProto type = 2; }
message NodeProto {
  repeated string input = 1; repeated string output = 2; optional string name = 3;
  optional string op_type = 4; optional string domain = 7; repeated AttributeProto attribute = 5;
}
message StringStringEntryProto { optional string key = 1; optional string value = 2; }
message TensorProto {
  repeated int64 dims = 1; optional int32 data_type = 2; optional string name = 8; optional bytes raw_data = 9;
  repeated StringStringEntryProto external_data = 13; optional int32 data_location = 14;
}
message TensorShapeProto {
  message Dimension { oneof value { int64 dim_value = 1; string dim_param = 2; } }
  repeated Dimension dim = 1;
}
message TypeProto {
  message Tensor { optional int32 elem_type = 1; optional TensorShapeProto shape = 2; }
  oneof value { Tensor tensor_type = 1; }
}
message GraphProto {
  repeated NodeProto node = 1; optional string name = 2; repeated TensorProto initializer = 5;
  repeated ValueInfoProto input = 11; repeated ValueInfoProto output = 12;
}
message OperatorSetIdProto { optional string domain = 1; optional int64 version = 2; }
message ModelProto {
  optional int64 ir_version = 1; repeated OperatorSetIdProto opset_import = 8; optional string producer_name = 2;
  optional GraphProto graph = 7; repeated StringStringEntryProto metadata_props = 14;
}
`
const ModelProto = protobuf.parse(ONNX_PROTO, { keepCase: true }).root.lookupType('onnx.ModelProto')

export const OPSET = 17
const IR_VERSION = 8

export type FloatType = 'float32' | 'float64'
export type DType = FloatType | 'int64' | 'int32' | 'uint8' | 'bool'
export const ELEM_TYPE: Record<DType, number> = { float32: 1, uint8: 2, int32: 6, int64: 7, bool: 9, float64: 11 }
/** onnxruntime's contrib operators. */
const CONTRIB = 'com.microsoft'
/** A dimension: a fixed size or a symbolic name such as 'batch_size'. */
export type Dim = number | string
export type FloatArray = Float32Array | Float64Array

type Attr = number | { ints: number[] } | { s: string }
interface Const { dtype: DType; dims: number[]; data: FloatArray | BigInt64Array | Int32Array | Uint8Array }
/** One node, as recorded for serialization and for graph transformations such as differentiation. */
export interface Node { op: string; inputs: string[]; outputs: string[]; attrs: Record<string, Attr>; domain?: string }
export interface ValueInfo { name: string; dtype: DType; shape: Dim[] }
/** A weight: bytes come from `load` only when the model is written (streamed to external data). */
export interface Weight { name: string; dtype: DType; dims: number[]; load: () => FloatArray | Uint8Array }

export class Graph {
  readonly nodes: Node[] = []
  readonly inputs: ValueInfo[] = []
  readonly outputs: ValueInfo[] = []
  readonly weights = new Map<string, Weight>()
  readonly constants = new Map<string, Const>()
  private readonly constantNames = new Map<string, string>()
  private readonly renamed = new Map<string, string>()
  private counter = 0

  /** `float` is the element type of every floating-point value (float32 to serve, float64 for gradient checks). */
  constructor(readonly float: FloatType = 'float32') {}

  input(name: string, dtype: DType, shape: Dim[]): string {
    this.inputs.push({ name, dtype, shape })
    return name
  }

  /**
   * Declares `value` as a graph output called `name`. A node's output is renamed, here and in
   * nodes built later (an Identity would copy it: for the KV cache, a full copy every step); a
   * graph input or initializer goes through Identity.
   */
  output(name: string, value: string, dtype: DType, shape: Dim[]): void {
    const produced = this.nodes.some((n) => n.outputs.includes(value)) && !this.outputs.some((o) => o.name === value)
    if (value !== name && produced) {
      for (const n of this.nodes) {
        n.inputs = n.inputs.map((v) => (v === value ? name : v))
        n.outputs = n.outputs.map((v) => (v === value ? name : v))
      }
      this.renamed.set(value, name)
    } else if (value !== name) {
      this.node('Identity', [value], {}, name)
    }
    this.outputs.push({ name, dtype, shape })
  }

  /** A weight of the graph's float type, or of `dtype` (uint8 for quantized blocks). */
  weight(name: string, dims: number[], load: () => FloatArray | Uint8Array, dtype: DType = this.float): string {
    if (this.weights.has(name)) throw new Error(`weight ${name} declared twice`)
    this.weights.set(name, { name, dtype, dims, load })
    return name
  }

  /** A small constant stored inline in the model (shapes, axes, epsilons). Equal constants are shared. */
  constant(values: number[], dtype: DType, dims: number[] = [values.length]): string {
    const key = `${dtype}:${dims.join('x')}:${values.join(',')}`
    const known = this.constantNames.get(key)
    if (known) return known
    const data =
      dtype === 'int64' ? BigInt64Array.from(values, (v) => BigInt(v))
      : dtype === 'int32' ? Int32Array.from(values)
      : dtype === 'bool' || dtype === 'uint8' ? Uint8Array.from(values)
      : dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values)
    const name = `const_${this.constants.size}`
    this.constants.set(name, { dtype, dims, data })
    this.constantNames.set(key, name)
    return name
  }
  /** A floating-point scalar of the graph's float type. */
  scalar(value: number): string { return this.constant([value], this.float, []) }
  ints(values: number[]): string { return this.constant(values, 'int64') }

  private node(op: string, inputs: string[], attrs: Record<string, Attr> = {}, output?: string): string {
    return this.nodeWith(op, inputs, attrs, output ? [output] : 1)[0]
  }

  /** A node with `outputs` new values (or the given names); an empty input name is an omitted optional input. */
  private nodeWith(op: string, inputs: string[], attrs: Record<string, Attr>, outputs: number | string[], domain?: string): string[] {
    const names = typeof outputs === 'number' ? Array.from({ length: outputs }, (_, i) => `${op.toLowerCase()}_${this.counter++}${i ? `_${i}` : ''}`) : outputs
    this.nodes.push({ op, inputs: inputs.map((v) => this.renamed.get(v) ?? v), outputs: names, attrs, ...(domain ? { domain } : {}) })
    return names
  }

  // ---- The operator set. One method per ONNX operator (opset 17). ----
  gather(data: string, indices: string, axis = 0) { return this.node('Gather', [data, indices], { axis }) }
  /** Y = A @ B (batched, broadcasting leading dims). */
  matmul(a: string, b: string) { return this.node('MatMul', [a, b]) }
  /** Y = A @ B^T for 2-D A [n, in] and B [out, in]: the Hugging Face Linear layout, no transposed copy. */
  linear(a: string, b: string) { return this.node('Gemm', [a, b], { transB: 1 }) }
  add(a: string, b: string) { return this.node('Add', [a, b]) }
  mul(a: string, b: string) { return this.node('Mul', [a, b]) }
  neg(x: string) { return this.node('Neg', [x]) }
  sqrt(x: string) { return this.node('Sqrt', [x]) }
  reciprocal(x: string) { return this.node('Reciprocal', [x]) }
  sigmoid(x: string) { return this.node('Sigmoid', [x]) }
  cos(x: string) { return this.node('Cos', [x]) }
  sin(x: string) { return this.node('Sin', [x]) }
  reduceMean(x: string, axes: number[]) { return this.node('ReduceMean', [x], { axes: { ints: axes }, keepdims: 1 }) }
  softmax(x: string, axis = -1) { return this.node('Softmax', [x], { axis }) }
  reshape(x: string, shape: string) { return this.node('Reshape', [x, shape]) }
  transpose(x: string, perm: number[]) { return this.node('Transpose', [x], { perm: { ints: perm } }) }
  unsqueeze(x: string, axes: number[]) { return this.node('Unsqueeze', [x, this.ints(axes)]) }
  concat(xs: string[], axis: number) { return this.node('Concat', xs, { axis }) }
  slice(x: string, starts: string, ends: string, axes: string) { return this.node('Slice', [x, starts, ends, axes]) }
  cast(x: string, to: DType) { return this.node('Cast', [x], { to: ELEM_TYPE[to] }) }
  where(cond: string, a: string, b: string) { return this.node('Where', [cond, a, b]) }
  shape(x: string) { return this.node('Shape', [x]) }
  range(start: string, limit: string, delta: string) { return this.node('Range', [start, limit, delta]) }
  equal(a: string, b: string) { return this.node('Equal', [a, b]) }
  lessOrEqual(a: string, b: string) { return this.node('LessOrEqual', [a, b]) }
  and(a: string, b: string) { return this.node('And', [a, b]) }

  // ---- The operators only loss and backward graphs use (gpu-worker/training). ----
  sub(a: string, b: string) { return this.node('Sub', [a, b]) }
  div(a: string, b: string) { return this.node('Div', [a, b]) }
  exp(x: string) { return this.node('Exp', [x]) }
  log(x: string) { return this.node('Log', [x]) }
  logSoftmax(x: string, axis = -1) { return this.node('LogSoftmax', [x], { axis }) }
  /** Sum over constant `axes`. */
  reduceSum(x: string, axes: number[], keepdims: 0 | 1 = 1) { return this.node('ReduceSum', [x, this.ints(axes)], { keepdims }) }
  /** Max / min over attribute `axes` (opset 17 form); metrics only, no gradient rule. */
  reduceMax(x: string, axes: number[], keepdims: 0 | 1 = 1) { return this.node('ReduceMax', [x], { axes: { ints: axes }, keepdims }) }
  reduceMin(x: string, axes: number[], keepdims: 0 | 1 = 1) { return this.node('ReduceMin', [x], { axes: { ints: axes }, keepdims }) }
  clip(x: string, min: string, max: string) { return this.node('Clip', [x, min, max]) }
  max(a: string, b: string) { return this.node('Max', [a, b]) }
  min(a: string, b: string) { return this.node('Min', [a, b]) }
  less(a: string, b: string) { return this.node('Less', [a, b]) }
  greater(a: string, b: string) { return this.node('Greater', [a, b]) }
  greaterOrEqual(a: string, b: string) { return this.node('GreaterOrEqual', [a, b]) }
  expand(x: string, shape: string) { return this.node('Expand', [x, shape]) }
  /** Zero padding; `pads` = [begin per axis..., end per axis...]. */
  pad(x: string, pads: string) { return this.node('Pad', [x, pads]) }
  /** op(A) @ op(B) for 2-D A, B: the backward matmuls, without transposed copies. */
  gemm(a: string, b: string, transA: 0 | 1, transB: 0 | 1) { return this.node('Gemm', [a, b], { transA, transB }) }
  size(x: string) { return this.node('Size', [x]) }
  /** data with `updates` added at `indices` along `axis` (ScatterElements, reduction add): the gradient of GatherElements. */
  scatterAddElements(data: string, indices: string, updates: string, axis: number) {
    return this.node('ScatterElements', [data, indices, updates], { axis, reduction: { s: 'add' } })
  }
  /** data with the rows `updates` [M, ...] added at `indices` [M, 1] (ScatterND, reduction add): the gradient of an embedding lookup. */
  scatterAddRows(data: string, indices: string, updates: string) { return this.node('ScatterND', [data, indices, updates], { reduction: { s: 'add' } }) }

  gatherElements(data: string, indices: string, axis: number) { return this.node('GatherElements', [data, indices], { axis }) }
  reduceLogSumExp(x: string, axes: number[], keepdims: 0 | 1 = 1) { return this.node('ReduceLogSumExp', [x], { axes: { ints: axes }, keepdims }) }

  // ---- Serving only: sampling helpers and onnxruntime's contrib operators (no gradient rules). ----
  argMax(x: string, axis: number, keepdims: 0 | 1 = 0) { return this.node('ArgMax', [x], { axis, keepdims }) }
  cumSum(x: string, axis: number) { return this.node('CumSum', [x, this.constant([axis], 'int64', [])]) }
  /**
   * com.microsoft GroupQueryAttention with past and present in one buffer: q [B, S, H*D], k and v
   * [B, S, KV*D] (rotary already applied), the cache [B, KV, M, D] that each row's S new positions
   * are written into at its own offset (seqlens_k [B] int32 = its total length - 1), causal within
   * each row. Returns [attention output [B, S, H*D], present key, present value].
   */
  groupQueryAttention(q: string, k: string, v: string, pastKey: string, pastValue: string, seqlensK: string, totalLength: string,
    heads: { numHeads: number; kvNumHeads: number }, presentNames: [string, string]): string[] {
    const out = this.nodeWith('GroupQueryAttention', [q, k, v, pastKey, pastValue, seqlensK, totalLength],
      { num_heads: heads.numHeads, kv_num_heads: heads.kvNumHeads }, 1, CONTRIB)[0]
    this.nodes.at(-1)!.outputs.push(...presentNames)
    return [out, ...presentNames]
  }
  /** com.microsoft MatMulNBits: a [M, K] @ W^T for W [N, K] stored as `bits`-bit blocks of `blockSize` with float scales. */
  matMulNBits(a: string, blocks: string, scales: string, zeroPoints: string, shape: { N: number; K: number; bits: 4 | 8; blockSize: number }) {
    return this.nodeWith('MatMulNBits', [a, blocks, scales, zeroPoints],
      { K: shape.K, N: shape.N, bits: shape.bits, block_size: shape.blockSize, accuracy_level: 4 }, 1, CONTRIB)[0]
  }

  // ---- Serialization ----

  /** The whole model with every weight inline (for small graphs built and run in memory; < 2 GB). */
  toBytes(): Uint8Array {
    return this.encode((w, data) => ({ raw_data: bytesOf(data) }))
  }

  /**
   * Writes `dir/file` and its weights to `dir/file_data` (ONNX external data, the layout that
   * onnxruntime and @huggingface/transformers' `use_external_data_format` expect).
   */
  save(dir: string, file = 'model.onnx'): string {
    mkdirSync(dir, { recursive: true })
    const dataFile = `${file}_data`
    const fd = openSync(join(dir, dataFile), 'w')
    let offset = 0
    try {
      const bytes = this.encode((w, values) => {
        // Page-align big tensors so that onnxruntime can memory-map them.
        const align = values.byteLength >= 65536 ? 4096 : 64
        const start = Math.ceil(offset / align) * align
        if (start > offset) writeSync(fd, new Uint8Array(start - offset))
        const data = bytesOf(values)
        for (let done = 0; done < data.length; ) done += writeSync(fd, data, done, Math.min(data.length - done, 1 << 30))
        offset = start + data.length
        const entry = (key: string, value: string | number) => ({ key, value: String(value) })
        return {
          data_location: 1,
          external_data: [entry('location', dataFile), entry('offset', start), entry('length', data.length)],
        }
      })
      writeFileBytes(join(dir, file), bytes)
    } finally {
      closeSync(fd)
    }
    return join(dir, file)
  }

  private encode(weightData: (w: Weight, data: FloatArray | Uint8Array) => object): Uint8Array {
    const checked = (w: Weight) => {
      const data = w.load()
      const n = w.dims.reduce((a, b) => a * b, 1)
      if (data.length !== n) throw new Error(`weight ${w.name}: ${data.length} values for shape [${w.dims}]`)
      return data
    }
    const valueInfo = (v: ValueInfo) => ({
      name: v.name,
      type: {
        tensor_type: {
          elem_type: ELEM_TYPE[v.dtype],
          shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
        },
      },
    })
    const tensor = (name: string, c: Const) => ({ name, dims: c.dims, data_type: ELEM_TYPE[c.dtype], raw_data: bytesOf(c.data) })
    const attribute = (name: string, a: Attr) => {
      if (typeof a === 'number') return { name, type: 2, i: a }
      if ('s' in a) return { name, type: 3, s: new TextEncoder().encode(a.s) }
      return { name, type: 7, ints: a.ints }
    }
    // a constant nothing reads any more (grad drops the backward nodes nothing uses) is left out
    const read = new Set([...this.nodes.flatMap((n) => n.inputs), ...this.outputs.map((o) => o.name)])
    const initializers = [
      ...[...this.weights.values()].map((w) => ({
        name: w.name, dims: w.dims, data_type: ELEM_TYPE[w.dtype], ...weightData(w, checked(w)),
      })),
      ...[...this.constants].filter(([name]) => read.has(name)).map(([name, c]) => tensor(name, c)),
    ]
    const model = {
      ir_version: IR_VERSION,
      producer_name: 'prompt-r1',
      opset_import: [{ domain: '', version: OPSET }, ...(this.nodes.some((n) => n.domain === CONTRIB) ? [{ domain: CONTRIB, version: 1 }] : [])],
      graph: {
        name: 'main',
        node: this.nodes.map((n, i) => ({
          name: `n${i}`, op_type: n.op, input: n.inputs, output: n.outputs, ...(n.domain ? { domain: n.domain } : {}),
          attribute: Object.entries(n.attrs).map(([k, v]) => attribute(k, v)),
        })),
        initializer: initializers,
        input: this.inputs.map(valueInfo),
        output: this.outputs.map(valueInfo),
      },
    }
    const err = ModelProto.verify(model)
    if (err) throw new Error(`invalid ONNX model: ${err}`)
    return ModelProto.encode(ModelProto.fromObject(model)).finish()
  }
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  // Raw data is little-endian, as typed arrays are on every platform Node supports.
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
}

function writeFileBytes(path: string, bytes: Uint8Array) {
  const fd = openSync(path, 'w')
  try {
    for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done)
  } finally {
    closeSync(fd)
  }
}
