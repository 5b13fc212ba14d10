// A Qwen3 checkpoint (Hugging Face folder) as a GGUF file, the format llama.cpp and Ollama load:
// the architecture's metadata, the tokenizer (byte-level BPE: tokens, types, merges, special ids,
// the chat template) and every weight under llama.cpp's tensor names, in F32 or Q8_0 (blocks of
// 32 int8 values with an fp16 scale; 1-D tensors stay F32, as llama.cpp's converter writes them).
// Written tensor by tensor, so no model-sized buffer is ever held. The layout is GGUF version 3:
//   magic "GGUF", version, tensor count, metadata count, metadata (key, type, value)...,
//   tensor infos (name, dims innermost first, type, offset)..., padding, tensor data (each aligned).
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { Checkpoint } from './checkpoint.ts'
import { qwen3WeightShapes } from './qwen3.ts'

export type GgufType = 'F32' | 'Q8_0'
const GGML_TYPE = { F32: 0, Q8_0: 8 } as const
const ALIGNMENT = 32
const QK8_0 = 32

/** llama.cpp's name for a Hugging Face weight of a Qwen3 checkpoint. */
export function ggufTensorName(name: string): string {
  const fixed: Record<string, string> = { 'model.embed_tokens.weight': 'token_embd.weight', 'model.norm.weight': 'output_norm.weight', 'lm_head.weight': 'output.weight' }
  if (fixed[name]) return fixed[name]
  const m = /^model\.layers\.(\d+)\.(.+)\.weight$/.exec(name)
  const parts: Record<string, string> = {
    input_layernorm: 'attn_norm', post_attention_layernorm: 'ffn_norm', 'self_attn.q_proj': 'attn_q', 'self_attn.k_proj': 'attn_k',
    'self_attn.v_proj': 'attn_v', 'self_attn.o_proj': 'attn_output', 'self_attn.q_norm': 'attn_q_norm', 'self_attn.k_norm': 'attn_k_norm',
    'mlp.gate_proj': 'ffn_gate', 'mlp.up_proj': 'ffn_up', 'mlp.down_proj': 'ffn_down',
  }
  if (!m || !parts[m[2]]) throw new Error(`no GGUF name for ${name}`)
  return `blk.${m[1]}.${parts[m[2]]}.weight`
}

// ---- the bytes of the format ----

class Bytes {
  private chunks: Buffer[] = []
  u32(v: number) { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.chunks.push(b) }
  i32(v: number) { const b = Buffer.alloc(4); b.writeInt32LE(v); this.chunks.push(b) }
  u64(v: number) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.chunks.push(b) }
  f32(v: number) { const b = Buffer.alloc(4); b.writeFloatLE(v); this.chunks.push(b) }
  str(s: string) { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.chunks.push(b) }
  raw(b: Buffer) { this.chunks.push(b) }
  get length() { return this.chunks.reduce((n, c) => n + c.length, 0) }
  done() { return Buffer.concat(this.chunks) }
}

type Value = { u32: number } | { i32: number } | { f32: number } | { bool: boolean } | { str: string } | { strs: string[] } | { i32s: number[] }
const VALUE_TYPE = { u32: 4, i32: 5, f32: 6, bool: 7, str: 8, array: 9 } as const

function writeValue(out: Bytes, v: Value) {
  if ('u32' in v) { out.u32(VALUE_TYPE.u32); out.u32(v.u32) }
  else if ('i32' in v) { out.u32(VALUE_TYPE.i32); out.i32(v.i32) }
  else if ('f32' in v) { out.u32(VALUE_TYPE.f32); out.f32(v.f32) }
  else if ('bool' in v) { out.u32(VALUE_TYPE.bool); out.raw(Buffer.from([v.bool ? 1 : 0])) }
  else if ('str' in v) { out.u32(VALUE_TYPE.str); out.str(v.str) }
  else if ('strs' in v) { out.u32(VALUE_TYPE.array); out.u32(VALUE_TYPE.str); out.u64(v.strs.length); for (const s of v.strs) out.str(s) }
  else { out.u32(VALUE_TYPE.array); out.u32(VALUE_TYPE.i32); out.u64(v.i32s.length); for (const x of v.i32s) out.i32(x) }
}

/** The tokenizer as llama.cpp's "gpt2" (byte-level BPE) tokenizer: every id up to vocab_size, unused ones as [PADn]. */
function tokenizerMetadata(ckpt: Checkpoint): Record<string, Value> {
  const json = JSON.parse(readFileSync(join(ckpt.dir, 'tokenizer.json'), 'utf8'))
  const config = JSON.parse(readFileSync(join(ckpt.dir, 'tokenizer_config.json'), 'utf8'))
  if (json.model?.type !== 'BPE') throw new Error(`${ckpt.dir}/tokenizer.json: a ${json.model?.type} tokenizer, GGUF export knows byte-level BPE`)
  const V = ckpt.config.vocabSize
  const tokens = Array.from({ length: V }, (_, i) => `[PAD${i}]`)
  const types = new Array<number>(V).fill(5) // UNUSED
  for (const [token, id] of Object.entries(json.model.vocab as Record<string, number>)) if (id < V) { tokens[id] = token; types[id] = 1 } // NORMAL
  for (const t of json.added_tokens as { id: number; content: string; special: boolean }[]) if (t.id < V) { tokens[t.id] = t.content; types[t.id] = t.special ? 3 : 4 } // CONTROL, USER_DEFINED
  const merges = (json.model.merges as (string | [string, string])[]).map((m) => (typeof m === 'string' ? m : m.join(' ')))
  const id = (token: unknown) => (typeof token === 'string' ? tokens.indexOf(token) : -1)
  const meta: Record<string, Value> = {
    'tokenizer.ggml.model': { str: 'gpt2' }, 'tokenizer.ggml.pre': { str: 'qwen2' },
    'tokenizer.ggml.tokens': { strs: tokens }, 'tokenizer.ggml.token_type': { i32s: types }, 'tokenizer.ggml.merges': { strs: merges },
    'tokenizer.ggml.add_bos_token': { bool: false },
  }
  const eos = ckpt.config.eosTokenIds[0] ?? id(config.eos_token)
  if (eos >= 0) meta['tokenizer.ggml.eos_token_id'] = { u32: eos }
  const pad = ckpt.config.padTokenId ?? id(config.pad_token)
  if (pad >= 0) meta['tokenizer.ggml.padding_token_id'] = { u32: pad }
  if (typeof config.chat_template === 'string') meta['tokenizer.chat_template'] = { str: config.chat_template }
  return meta
}

/** Q8_0 blocks of one row-major tensor: per 32 values an fp16 scale max|x| / 127 and 32 int8 (rounded half away from zero). */
function q8_0(values: Float32Array): Buffer {
  const blocks = values.length / QK8_0
  const out = Buffer.alloc(blocks * (2 + QK8_0))
  const half = new Float32Array(1)
  for (let b = 0; b < blocks; b++) {
    let amax = 0
    for (let j = 0; j < QK8_0; j++) amax = Math.max(amax, Math.abs(values[b * QK8_0 + j]))
    const d = amax / 127
    const inverse = d ? 1 / d : 0
    half[0] = d
    out.writeUInt16LE(toHalf(half[0]), b * 34)
    for (let j = 0; j < QK8_0; j++) {
      const x = values[b * QK8_0 + j] * inverse
      out.writeInt8(Math.sign(x) * Math.round(Math.abs(x)), b * 34 + 2 + j)
    }
  }
  return out
}

/** float32 -> fp16 bits, round to nearest even (the value llama.cpp's GGML_FP32_TO_FP16 gives). */
function toHalf(f: number): number {
  const bits = new Uint32Array(Float32Array.of(f).buffer)[0]
  const sign = (bits >>> 16) & 0x8000
  const exp = ((bits >>> 23) & 0xff) - 127 + 15
  const mant = bits & 0x7fffff
  if (exp >= 31) return sign | 0x7c00
  if (exp <= 0) {
    if (exp < -10) return sign
    const m = (mant | 0x800000) >>> (1 - exp)
    return sign | ((m + 0xfff + ((m >>> 13) & 1)) >>> 13)
  }
  const rounded = (mant + 0xfff + ((mant >>> 13) & 1)) >>> 13
  return sign | ((exp << 10) + rounded)
}

/** Writes `ckpt` as a GGUF file at `path`; returns its size in bytes. */
export function writeGguf(ckpt: Checkpoint, path: string, type: GgufType = 'F32'): number {
  const c = ckpt.config
  const meta: Record<string, Value> = {
    'general.architecture': { str: 'qwen3' }, 'general.name': { str: ckpt.dir.split('/').filter(Boolean).at(-1) ?? 'qwen3' },
    'general.alignment': { u32: ALIGNMENT }, 'general.file_type': { u32: type === 'F32' ? 0 : 7 }, 'general.quantization_version': { u32: 2 },
    'qwen3.block_count': { u32: c.numLayers }, 'qwen3.context_length': { u32: c.maxPositionEmbeddings },
    'qwen3.embedding_length': { u32: c.hiddenSize }, 'qwen3.feed_forward_length': { u32: c.intermediateSize },
    'qwen3.attention.head_count': { u32: c.numHeads }, 'qwen3.attention.head_count_kv': { u32: c.numKvHeads },
    'qwen3.attention.key_length': { u32: c.headDim }, 'qwen3.attention.value_length': { u32: c.headDim },
    'qwen3.rope.freq_base': { f32: c.ropeTheta }, 'qwen3.attention.layer_norm_rms_epsilon': { f32: c.rmsNormEps },
    ...tokenizerMetadata(ckpt),
  }
  const tensors = [...qwen3WeightShapes(c)].map(([name, shape]) => {
    const quantized = type === 'Q8_0' && shape.length === 2 && shape[1] % QK8_0 === 0
    const elements = shape.reduce((a, b) => a * b, 1)
    return { name, gguf: ggufTensorName(name), shape, type: quantized ? 'Q8_0' as const : 'F32' as const, bytes: quantized ? (elements / QK8_0) * 34 : elements * 4 }
  })
  const header = new Bytes()
  header.u32(0x46554747)
  header.u32(3)
  header.u64(tensors.length)
  header.u64(Object.keys(meta).length)
  for (const [key, value] of Object.entries(meta)) { header.str(key); writeValue(header, value) }
  let offset = 0
  for (const t of tensors) {
    header.str(t.gguf)
    header.u32(t.shape.length)
    for (const d of [...t.shape].reverse()) header.u64(d) // innermost first
    header.u32(GGML_TYPE[t.type])
    header.u64(offset)
    offset = Math.ceil((offset + t.bytes) / ALIGNMENT) * ALIGNMENT
  }
  const pad = (n: number) => Buffer.alloc((ALIGNMENT - (n % ALIGNMENT)) % ALIGNMENT)
  const head = header.done()
  const fd = openSync(path, 'w')
  let written = 0
  const write = (b: Buffer | Uint8Array) => {
    for (let done = 0; done < b.length; ) done += writeSync(fd, b, done, Math.min(b.length - done, 1 << 30))
    written += b.length
  }
  try {
    write(head)
    write(pad(head.length))
    for (const t of tensors) {
      const values = ckpt.weights.read(t.name, 'float32') as Float32Array
      const data = t.type === 'Q8_0' ? q8_0(values) : new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
      write(data)
      write(pad(data.length))
    }
  } finally {
    closeSync(fd)
  }
  return written
}
