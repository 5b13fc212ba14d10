// Reading and writing safetensors (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, then the bytes.
// Tensors are read one at a time at their offsets, so a sharded multi-GB checkpoint is never held
// in memory at once. bf16 and fp16 are widened to float32 (or float64) for the CPU graph.
import { closeSync, existsSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FloatArray, FloatType } from './onnx.ts'

export type StDType = 'F32' | 'F16' | 'BF16' | 'F64'
const BYTES: Record<StDType, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 }

export interface TensorEntry { file: string; dtype: StDType; shape: number[]; start: number; end: number }

/** All tensors of a checkpoint folder: `model.safetensors`, or shards listed in `model.safetensors.index.json`. */
export class SafetensorsFolder {
  readonly tensors = new Map<string, TensorEntry>()

  constructor(readonly dir: string) {
    const index = join(dir, 'model.safetensors.index.json')
    const files = existsSync(index)
      ? [...new Set(Object.values(JSON.parse(readFileSync(index, 'utf8')).weight_map as Record<string, string>))]
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

/** float32 -> bf16 bits, rounding to nearest even (as torch does). */
function floatToBf16(f: number): number {
  const bits = new Uint32Array(Float32Array.of(f).buffer)[0]
  if ((bits & 0x7f800000) === 0x7f800000) return bits >>> 16
  return (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16
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

export interface TensorToWrite { dtype: StDType; shape: number[]; data: ArrayLike<number> }

/** Writes one safetensors file (the values are rounded to `dtype`). */
export function writeSafetensors(path: string, tensors: Record<string, TensorToWrite>, metadata: Record<string, string> = { format: 'pt' }) {
  const header: Record<string, unknown> = { __metadata__: metadata }
  const chunks: Uint8Array[] = []
  let offset = 0
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = encode(t)
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] }
    chunks.push(bytes)
    offset += bytes.length
  }
  let json = JSON.stringify(header)
  json += ' '.repeat((8 - ((json.length + 8) % 8)) % 8) // the format pads the header to 8 bytes
  const head = Buffer.alloc(8)
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)))
  writeFileSync(path, Buffer.concat([head, Buffer.from(json), ...chunks]))
}

function encode(t: TensorToWrite): Uint8Array {
  const n = t.data.length
  if (t.dtype === 'F32') return new Uint8Array(Float32Array.from(t.data).buffer)
  if (t.dtype === 'F64') return new Uint8Array(Float64Array.from(t.data).buffer)
  const halves = new Uint16Array(n)
  for (let i = 0; i < n; i++) halves[i] = t.dtype === 'BF16' ? floatToBf16(t.data[i]) : floatToHalf(t.data[i])
  return new Uint8Array(halves.buffer)
}
