// Reading and writing safetensors (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, then the bytes.
// Tensors are read one at a time at their offsets, so a sharded multi-GB checkpoint is never held
// in memory at once. bf16 and fp16 are widened to float32 (or float64) for the CPU graph.
import { closeSync, existsSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { FloatArray, FloatType } from './onnx.ts'

export type StDType = 'F32' | 'F16' | 'BF16' | 'F64'
const BYTES: Record<StDType, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 }

export interface TensorEntry { file: string; dtype: StDType; shape: number[]; start: number; end: number }

/**
 * All tensors of a checkpoint folder: `model.safetensors`, or shards listed in
 * `model.safetensors.index.json`; or of one named file in it (an adapter's).
 */
export class SafetensorsFolder {
  readonly tensors = new Map<string, TensorEntry>()

  constructor(readonly dir: string, file?: string) {
    const index = join(dir, 'model.safetensors.index.json')
    const files = file ? [file]
      : existsSync(index) ? [...new Set(Object.values(JSON.parse(readFileSync(index, 'utf8')).weight_map as Record<string, string>))]
      : ['model.safetensors']
    for (const file of files) this.readHeader(join(dir, file))
  }

  private readHeader(path: string) {
    if (!existsSync(path)) throw new Error(`missing weights file ${path}`)
    const fd = openSync(path, 'r')
    try {
      const len = Buffer.alloc(8)
      readSync(fd, len, 0, 8, 0)
      const headerLength = Number(len.readBigUInt64LE(0))
      const header = Buffer.alloc(headerLength)
      readSync(fd, header, 0, headerLength, 8)
      const json = JSON.parse(header.toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>
      for (const [name, t] of Object.entries(json)) {
        if (name === '__metadata__') continue
        if (!(t.dtype in BYTES)) throw new Error(`${path}: tensor ${name} has unsupported dtype ${t.dtype}`)
        const base = 8 + headerLength
        this.tensors.set(name, { file: path, dtype: t.dtype as StDType, shape: t.shape, start: base + t.data_offsets[0], end: base + t.data_offsets[1] })
      }
    } finally {
      closeSync(fd)
    }
  }

  has(name: string) { return this.tensors.has(name) }

  entry(name: string): TensorEntry {
    const t = this.tensors.get(name)
    if (!t) throw new Error(`tensor ${name} not found in ${this.dir}`)
    return t
  }

  /** Reads one tensor and converts it to `as` (float32 or float64). */
  read(name: string, as: FloatType = 'float32'): FloatArray {
    const t = this.entry(name)
    const bytes = Buffer.allocUnsafe(t.end - t.start)
    const fd = openSync(t.file, 'r')
    try {
      for (let done = 0; done < bytes.length; ) {
        const n = readSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30), t.start + done)
        if (n === 0) throw new Error(`${t.file}: truncated tensor ${name}`)
        done += n
      }
    } finally {
      closeSync(fd)
    }
    return decode(bytes, t.dtype, as)
  }
}

function decode(bytes: Buffer, dtype: StDType, as: FloatType): FloatArray {
  const n = bytes.length / BYTES[dtype]
  const out = as === 'float32' ? new Float32Array(n) : new Float64Array(n)
  if (dtype === 'F32' || dtype === 'F64') {
    // Copy first: the buffer's offset need not be aligned for a typed-array view.
    const aligned = new Uint8Array(bytes)
    out.set(dtype === 'F32' ? new Float32Array(aligned.buffer) : new Float64Array(aligned.buffer))
    return out
  }
  const halves = new Uint16Array(new Uint8Array(bytes).buffer)
  if (dtype === 'BF16') {
    // bf16 is the top half of a float32.
    const wide = new Uint32Array(n)
    for (let i = 0; i < n; i++) wide[i] = halves[i] << 16
    out.set(new Float32Array(wide.buffer))
  } else {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(halves[i])
  }
  return out
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1
  const exp = (h >> 10) & 0x1f
  const frac = h & 0x3ff
  if (exp === 0) return sign * frac * 2 ** -24
  if (exp === 31) return frac ? NaN : sign * Infinity
  return sign * (1 + frac / 1024) * 2 ** (exp - 15)
}

/** bf16 bits of float32 values, rounding to nearest even (as torch does); NaN and infinities kept. */
function toBf16(values: Float32Array, out: Uint16Array) {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length)
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i]
    out[i] = (b & 0x7f800000) === 0x7f800000 ? b >>> 16 : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16
  }
}

/** float -> fp16 bits, rounding to nearest even. */
function floatToHalf(f: number): number {
  if (Number.isNaN(f)) return 0x7e00
  const sign = f < 0 || Object.is(f, -0) ? 0x8000 : 0
  const a = Math.abs(f)
  const roundEven = (x: number) => (Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x))
  // Subnormals (a rounding up to 1024 lands exactly on the smallest normal's bits).
  if (a < 2 ** -14) return sign | roundEven(a * 2 ** 24)
  let e = Math.floor(Math.log2(a))
  if (2 ** e > a) e--
  if (2 ** (e + 1) <= a) e++
  let m = roundEven((a / 2 ** e) * 1024 - 1024)
  if (m === 1024) { m = 0; e++ }
  if (e > 15) return sign | 0x7c00
  return sign | ((e + 15) << 10) | m
}

/**
 * A tensor to write. `data` is all of its values, or a function yielding them chunk by chunk in
 * order, so that no tensor (let alone a model) is ever one buffer; values are rounded to `dtype`.
 */
export interface TensorToWrite { dtype: StDType; shape: number[]; data: ArrayLike<number> | (() => Iterable<ArrayLike<number>>) }

const elements = (t: TensorToWrite) => t.shape.reduce((a, b) => a * b, 1)

/** The bytes of one chunk of values in `dtype`. */
function encodeChunk(values: ArrayLike<number>, dtype: StDType): Uint8Array {
  if (dtype === 'F64') return new Uint8Array(Float64Array.from(values).buffer)
  const wide = values instanceof Float32Array ? values : Float32Array.from(values)
  if (dtype === 'F32') return new Uint8Array(wide.buffer, wide.byteOffset, wide.byteLength)
  const halves = new Uint16Array(values.length)
  if (dtype === 'BF16') toBf16(wide, halves)
  else for (let i = 0; i < values.length; i++) halves[i] = floatToHalf(values[i])
  return new Uint8Array(halves.buffer)
}

/** Writes one safetensors file, tensor by tensor and chunk by chunk. */
export function writeSafetensors(path: string, tensors: Record<string, TensorToWrite>, metadata: Record<string, string> = { format: 'pt' }) {
  const header: Record<string, unknown> = { __metadata__: metadata }
  let offset = 0
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = elements(t) * BYTES[t.dtype]
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] }
    offset += bytes
  }
  let json = JSON.stringify(header)
  json += ' '.repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8) // the format pads the header to 8 bytes
  const fd = openSync(path, 'w')
  try {
    const head = Buffer.alloc(8)
    head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)))
    writeAll(fd, head)
    writeAll(fd, Buffer.from(json))
    for (const [name, t] of Object.entries(tensors)) {
      let written = 0
      for (const chunk of typeof t.data === 'function' ? t.data() : [t.data]) {
        written += chunk.length
        writeAll(fd, encodeChunk(chunk, t.dtype))
      }
      if (written !== elements(t)) throw new Error(`${path}: tensor ${name} got ${written} values for shape [${t.shape}]`)
    }
  } finally {
    closeSync(fd)
  }
}

function writeAll(fd: number, bytes: Uint8Array) {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30))
}

/**
 * Writes a checkpoint's weights the way Hugging Face saves them: one model.safetensors, or, when
 * they exceed `maxShardBytes`, model-0000N-of-0000M.safetensors shards (tensors in the given order,
 * a new shard when the next one would overflow) with model.safetensors.index.json.
 */
export function writeWeights(dir: string, tensors: Record<string, TensorToWrite>, maxShardBytes = 5e9): string[] {
  const shards: Record<string, TensorToWrite>[] = [{}]
  let size = 0
  let total = 0
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = elements(t) * BYTES[t.dtype]
    if (size > 0 && size + bytes > maxShardBytes) { shards.push({}); size = 0 }
    shards.at(-1)![name] = t
    size += bytes
    total += bytes
  }
  if (shards.length === 1) {
    writeSafetensors(join(dir, 'model.safetensors'), tensors)
    return ['model.safetensors']
  }
  const files = shards.map((_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`)
  const weightMap: Record<string, string> = {}
  shards.forEach((shard, i) => {
    writeSafetensors(join(dir, files[i]), shard)
    for (const name of Object.keys(shard)) weightMap[name] = files[i]
  })
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2))
  return [...files, 'model.safetensors.index.json']
}
