// Qwen3 as an ONNX graph, from a Hugging Face config.json and its weight names: the model in one
// file. The residual stream is kept 2-D as [N = B*S, hidden] so that every projection is one Gemm
// against the Hugging Face [out, in] weight, with no transposed copy of any weight.
//
// Two layouts of the KV cache:
// - 'concat' (exports, training): inputs and outputs named as Hugging Face / optimum ONNX exports
//   name them, so the file also runs in @huggingface/transformers:
//     input_ids [B, S] int64, attention_mask [B, T] int64 (1 = real token, 0 = left padding),
//     position_ids [B, S] int64, past_key_values.{i}.key/.value [B, KV, P, D]
//     -> logits [B, S, V] (or [B, 1, V] with logits: 'last'), present.{i}.key/.value [B, KV, T, D], T = P + S.
// - 'slots' (the serving engine): one preallocated buffer per layer and K/V, [slots, KV, M, D]; row b
//   of the batch is slot b and holds its tokens from position 0 (no padding, no mask). Each step
//   writes its S new positions in place, at the row's own length (GroupQueryAttention with past and
//   present in one buffer), so nothing of the cache is copied:
//     input_ids [B, S], position_ids [B, S], seqlens_k [B] int32 (the row's length after this step - 1),
//     total_sequence_length [] int32 (the longest), past_key_values.{i}.key/.value [B, KV, M, D]
//     -> logits, present.{i}.key/.value (the same buffers), and the sampling helpers (samplingHead).
import { type DType, type Dim, type FloatArray, type FloatType, Graph } from './onnx.ts'

export interface Qwen3Config {
  vocabSize: number
  hiddenSize: number
  intermediateSize: number
  numLayers: number
  numHeads: number
  numKvHeads: number
  headDim: number
  rmsNormEps: number
  ropeTheta: number
  tieWordEmbeddings: boolean
  maxPositionEmbeddings: number
  eosTokenIds: number[]
  padTokenId: number | null
}

/** Reads a Hugging Face Qwen3 config.json; refuses what this graph does not implement. */
export function parseQwen3Config(json: Record<string, any>): Qwen3Config {
  if (json.model_type !== 'qwen3') throw new Error(`model_type "${json.model_type}" is not supported (expected "qwen3")`)
  if (json.attention_bias) throw new Error('attention_bias: true is not supported (Qwen3 has no attention bias)')
  if (json.use_sliding_window) throw new Error('use_sliding_window: true is not supported')
  const scaling = json.rope_scaling ?? json.rope_parameters
  const ropeType = scaling?.rope_type ?? scaling?.type
  if (ropeType && ropeType !== 'default') throw new Error(`rope_scaling type "${ropeType}" is not supported`)
  if (json.hidden_act && json.hidden_act !== 'silu') throw new Error(`hidden_act "${json.hidden_act}" is not supported`)
  const need = (key: string): number => {
    if (typeof json[key] !== 'number') throw new Error(`config.json: missing number "${key}"`)
    return json[key]
  }
  const numHeads = need('num_attention_heads')
  const numKvHeads = json.num_key_value_heads ?? numHeads
  if (numHeads % numKvHeads !== 0) throw new Error('num_attention_heads must be a multiple of num_key_value_heads')
  const eos = json.eos_token_id
  return {
    vocabSize: need('vocab_size'),
    hiddenSize: need('hidden_size'),
    intermediateSize: need('intermediate_size'),
    numLayers: need('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim: json.head_dim ?? need('hidden_size') / numHeads,
    rmsNormEps: json.rms_norm_eps ?? 1e-6,
    ropeTheta: json.rope_theta ?? scaling?.rope_theta ?? 10000,
    tieWordEmbeddings: json.tie_word_embeddings ?? false,
    maxPositionEmbeddings: json.max_position_embeddings ?? 40960,
    eosTokenIds: eos == null ? [] : Array.isArray(eos) ? eos : [eos],
    padTokenId: json.pad_token_id ?? null,
  }
}

/** Every weight the graph reads, with its Hugging Face name and [out, in] shape. */
export function qwen3WeightShapes(c: Qwen3Config): Map<string, number[]> {
  const shapes = new Map<string, number[]>()
  const { hiddenSize: h, headDim: d } = c
  shapes.set('model.embed_tokens.weight', [c.vocabSize, h])
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}.`
    shapes.set(p + 'input_layernorm.weight', [h])
    shapes.set(p + 'self_attn.q_proj.weight', [c.numHeads * d, h])
    shapes.set(p + 'self_attn.k_proj.weight', [c.numKvHeads * d, h])
    shapes.set(p + 'self_attn.v_proj.weight', [c.numKvHeads * d, h])
    shapes.set(p + 'self_attn.o_proj.weight', [h, c.numHeads * d])
    shapes.set(p + 'self_attn.q_norm.weight', [d])
    shapes.set(p + 'self_attn.k_norm.weight', [d])
    shapes.set(p + 'post_attention_layernorm.weight', [h])
    shapes.set(p + 'mlp.gate_proj.weight', [c.intermediateSize, h])
    shapes.set(p + 'mlp.up_proj.weight', [c.intermediateSize, h])
    shapes.set(p + 'mlp.down_proj.weight', [h, c.intermediateSize])
  }
  shapes.set('model.norm.weight', [h])
  if (!c.tieWordEmbeddings) shapes.set('lm_head.weight', [c.vocabSize, h])
  return shapes
}

/** Rotary inverse frequencies, rounded as transformers computes them in float32. */
export function ropeInvFreq(c: Qwen3Config): number[] {
  const f = Math.fround
  return Array.from({ length: c.headDim / 2 }, (_, i) => f(1 / f(c.ropeTheta ** f((2 * i) / c.headDim))))
}

export const LORA_TARGETS = {
  q: 'self_attn.q_proj', k: 'self_attn.k_proj', v: 'self_attn.v_proj', o: 'self_attn.o_proj',
  gate: 'mlp.gate_proj', up: 'mlp.up_proj', down: 'mlp.down_proj',
} as const
export type LoraTarget = keyof typeof LORA_TARGETS

/** One adapter: W' = W + lora_scale * B @ A over the frozen weight W [out, in]; A and B are graph inputs. */
export interface Adapter { weight: string; a: string; b: string; rank: number; inFeatures: number; outFeatures: number }

/** PEFT's names for an adapter's factors, so the adapter file is the layout other tools read. */
export const adapterName = (weight: string, factor: 'A' | 'B') => `base_model.model.${weight.replace(/\.weight$/, '')}.lora_${factor}.weight`

export interface Qwen3GraphOptions {
  /** Element type of all floating-point values; float64 is for gradient checks. */
  float?: FloatType
  /** 'all' gives logits for every position; 'last' only for the last one of each row (generation). */
  logits?: 'all' | 'last'
  /** The KV cache layout (see the top of this file). */
  cache?: 'concat' | 'slots'
  /** LoRA adapters on these projections: inputs A [r, in], B [out, r] and the scalar lora_scale (0 switches them off). */
  lora?: { rank: number; targets: LoraTarget[] }
  /** Every weight a graph input rather than an initializer (fed by full fine-tuning, changed in place). */
  weightsAsInputs?: boolean
  /** 'slots' graphs: weight-only quantization of the projections and the LM head (MatMulNBits, blocks of 32). */
  quantize?: 8 | 4
  /** 'slots' generation graphs: the sampling head's own draw (samplingHead) */
  draw?: boolean
  /**
   * Training graphs: sequences packed into one row of `length` positions (fixed when built), no KV
   * cache. Inputs input_ids, position_ids, segment_ids [length] int64 (segment 0: padding);
   * attention is causal within each segment, in blocks of `chunk` query positions that read only
   * the keys up to their block's end (so no [length, length] scores exist, and half of them are
   * never computed). No logits: the loss applies the LM head to `hidden` itself, in chunks.
   */
  packed?: { length: number; chunk: number }
}

/** The built model and the handles training needs from it. */
export interface Qwen3Graph {
  graph: Graph
  adapters: Adapter[]
  /** The residual stream at each layer boundary (the input of each layer, then of the final norm): recomputation's checkpoints. */
  residualStream: string[]
  /** The final normed hidden states [N, hidden] and the LM head's weight [V, hidden] (the embedding when tied). */
  hidden: string
  headWeight: string
}

export const QUANT_BLOCK = 32

export function buildQwen3(c: Qwen3Config, load: (name: string) => FloatArray, options: Qwen3GraphOptions = {}): Qwen3Graph {
  const float = options.float ?? 'float32'
  const slots = options.cache === 'slots'
  const packed = options.packed
  if (packed && (options.cache || options.logits)) throw new Error('packed training graphs have no KV cache and no logits output')
  if (options.quantize && (!slots || options.weightsAsInputs)) throw new Error('quantized weights are for serving graphs with frozen weights')
  if (slots && c.headDim % 8 !== 0) throw new Error(`head_dim ${c.headDim} is not a multiple of 8, which the engine's attention kernel needs`)
  const g = new Graph(float)
  const { numHeads: H, numKvHeads: KV, headDim: D, hiddenSize } = c
  const G = H / KV // query heads per key/value head
  const shapes = qwen3WeightShapes(c)
  const weight = (name: string) => {
    if (g.weights.has(name) || g.inputs.some((i) => i.name === name)) return name
    return options.weightsAsInputs ? g.input(name, float, shapes.get(name)!) : g.weight(name, shapes.get(name)!, () => load(name))
  }

  const rows: Dim[] = packed ? [packed.length] : ['batch_size', 'sequence_length']
  const inputIds = g.input('input_ids', 'int64', rows)
  const attentionMask = slots || packed ? '' : g.input('attention_mask', 'int64', ['batch_size', 'total_sequence_length'])
  const positionIds = g.input('position_ids', 'int64', rows)
  const segmentIds = packed ? g.input('segment_ids', 'int64', rows) : ''
  const seqlensK = slots ? g.input('seqlens_k', 'int32', ['batch_size']) : ''
  const totalLength = slots ? g.input('total_sequence_length', 'int32', []) : ''
  const cacheLength = slots ? 'max_sequence_length' : 'past_sequence_length'
  const past = packed ? [] : Array.from({ length: c.numLayers }, (_, i) =>
    (['key', 'value'] as const).map((kv) => g.input(`past_key_values.${i}.${kv}`, float, ['batch_size', KV, cacheLength, D])),
  )
  const loraScale = options.lora ? g.input('lora_scale', float, []) : ''

  const bs = g.shape(inputIds) // [2] = (B, S)
  const dims = (...rest: number[]) => g.concat([bs, g.ints(rest)], 0) // (B, S, ...rest)

  // x [N, in] @ W^T [in, out]: a Gemm on the [out, in] weight, or its quantized blocks; plus the
  // LoRA delta lora_scale * (x A^T) B^T where this projection is a target.
  const targets = new Set((options.lora?.targets ?? []).map((t) => LORA_TARGETS[t]))
  const adapters: Adapter[] = []
  const project = (x: string, name: string) => {
    const [outFeatures, inFeatures] = shapes.get(name)!
    const y = options.quantize ? quantizedLinear(g, x, name, shapes.get(name)!, () => load(name), options.quantize) : g.linear(x, weight(name))
    const module = name.split('.').slice(-3, -1).join('.')
    if (!options.lora || !targets.has(module as never)) return y
    const a = g.input(adapterName(name, 'A'), float, [options.lora.rank, inFeatures])
    const b = g.input(adapterName(name, 'B'), float, [outFeatures, options.lora.rank])
    adapters.push({ weight: name, a, b, rank: options.lora.rank, inFeatures, outFeatures })
    return g.add(y, g.mul(g.gemm(g.gemm(x, a, 0, 1), b, 0, 1), loraScale)) // [N, out]
  }

  // Rotary embeddings, computed once: cos/sin [N, 1, D], broadcast over heads.
  const pos = g.cast(g.reshape(positionIds, g.ints([-1, 1])), float) // [N, 1]
  const freqs = g.mul(pos, g.constant(ropeInvFreq(c), float, [1, D / 2])) // [N, D/2]
  const angles = g.unsqueeze(g.concat([freqs, freqs], -1), [1]) // [N, 1, D]
  const cos = g.cos(angles)
  const sin = g.sin(angles)
  const slice = (x: string, axis: number, from: number, to: number) => g.slice(x, g.ints([from]), g.ints([to]), g.ints([axis]))
  const rope = (x: string) => {
    // x [N, heads, D]: x*cos + rotate_half(x)*sin, rotate_half(x) = (-x2, x1)
    const rotated = g.concat([g.neg(slice(x, -1, D / 2, D)), slice(x, -1, 0, D / 2)], -1)
    return g.add(g.mul(x, cos), g.mul(rotated, sin))
  }

  const eps = g.scalar(c.rmsNormEps)
  const rmsNorm = (x: string, weightName: string) => {
    const meanSquare = g.reduceMean(g.mul(x, x), [-1])
    return g.mul(g.mul(x, g.reciprocal(g.sqrt(g.add(meanSquare, eps)))), weight(weightName))
  }

  // 'concat': the causal and padding mask, computed once. Query at absolute index P+s sees key j
  // when j <= P+s and attention_mask[b, j] = 1; allowed [B, 1, 1, S, T] broadcasts over (KV, G).
  // Masked scores are replaced (not added to), so nothing overflows; a fully padded query row
  // becomes uniform instead of NaN, and its output is never read.
  let allowed = ''
  if (!slots && !packed) {
    const scalarAt = (shape: string, i: number) => g.gather(shape, g.constant([i], 'int64', []))
    const total = scalarAt(g.shape(attentionMask), 1) // T
    const pastLen = scalarAt(g.shape(past[0][0]), 2) // P
    const one = g.constant([1], 'int64', [])
    const queryPos = g.unsqueeze(g.range(pastLen, total, one), [1]) // [S, 1]
    const keyPos = g.unsqueeze(g.range(g.constant([0], 'int64', []), total, one), [0]) // [1, T]
    const notPadding = g.unsqueeze(g.equal(attentionMask, one), [1, 2, 3]) // [B, 1, 1, 1, T]
    allowed = g.and(g.lessOrEqual(keyPos, queryPos), notPadding) // [B, 1, 1, S, T]
  }
  const masked = g.scalar(-3.4028234663852886e38)
  const scale = g.scalar(1 / Math.sqrt(D))

  // 'packed': query blocks [from, to) and what each may see, computed once: key j <= query i, same segment [C, to].
  const blocks = packed ? Array.from({ length: Math.ceil(packed.length / packed.chunk) }, (_, b) => {
    const [from, to] = [b * packed.chunk, Math.min(packed.length, (b + 1) * packed.chunk)]
    const index = (a: number, n: number, shape: number[]) => g.constant(Array.from({ length: n }, (_, i) => a + i), 'int64', shape)
    const causal = g.lessOrEqual(index(0, to, [1, to]), index(from, to - from, [to - from, 1])) // [C, to]
    const sameSegment = g.equal(g.unsqueeze(slice(segmentIds, 0, from, to), [1]), g.unsqueeze(slice(segmentIds, 0, 0, to), [0])) // [C, to]
    return { from, to, allowed: g.and(causal, sameSegment) }
  }) : []

  const attention = (x: string, i: number) => {
    const p = `model.layers.${i}.self_attn.`
    const heads = (name: string, n: number) => g.reshape(project(x, p + name), g.ints([-1, n, D])) // [N, n, D]
    const q = rope(rmsNorm(heads('q_proj.weight', H), p + 'q_norm.weight')) // [N, H, D]
    const k = rope(rmsNorm(heads('k_proj.weight', KV), p + 'k_norm.weight')) // [N, KV, D]
    const v = heads('v_proj.weight', KV)
    let merged: string // [N, H*D]
    if (packed) {
      // Grouped-query attention per query block, by broadcasting the G query heads of a group over one K/V head.
      const keysT = g.transpose(k, [1, 2, 0]) // [KV, D, L]
      const valuesT = g.transpose(v, [1, 0, 2]) // [KV, L, D]
      merged = g.concat(blocks.map(({ from, to, allowed: seen }) => {
        const qb = g.transpose(g.reshape(slice(q, 0, from, to), g.ints([to - from, KV, G, D])), [1, 2, 0, 3]) // [KV, G, C, D]
        const kb = g.unsqueeze(slice(keysT, 2, 0, to), [1]) // [KV, 1, D, to]
        const vb = g.unsqueeze(slice(valuesT, 1, 0, to), [1]) // [KV, 1, to, D]
        const scores = g.where(seen, g.mul(g.matmul(qb, kb), scale), masked) // [KV, G, C, to]
        const out = g.matmul(g.softmax(scores, -1), vb) // [KV, G, C, D]
        return g.reshape(g.transpose(out, [2, 0, 1, 3]), g.ints([to - from, H * D])) // [C, H*D]
      }), 0)
    } else if (slots) {
      const flat = (t: string, n: number) => g.reshape(t, dims(n * D)) // [B, S, n*D]
      const [out] = g.groupQueryAttention(flat(q, H), flat(k, KV), flat(v, KV), past[i][0], past[i][1], seqlensK, totalLength,
        { numHeads: H, kvNumHeads: KV }, [`present.${i}.key`, `present.${i}.value`])
      for (const kv of ['key', 'value']) g.outputs.push({ name: `present.${i}.${kv}`, dtype: float, shape: ['batch_size', KV, cacheLength, D] })
      merged = g.reshape(out, g.ints([-1, H * D]))
    } else {
      const q5 = g.transpose(g.reshape(q, dims(KV, G, D)), [0, 2, 3, 1, 4]) // [B, KV, G, S, D]
      const toCache = (t: string) => g.transpose(g.reshape(t, dims(KV, D)), [0, 2, 1, 3]) // [B, KV, S, D]
      const keys = g.concat([past[i][0], toCache(k)], 2) // [B, KV, T, D]
      const values = g.concat([past[i][1], toCache(v)], 2)
      g.output(`present.${i}.key`, keys, float, ['batch_size', KV, 'total_sequence_length', D])
      g.output(`present.${i}.value`, values, float, ['batch_size', KV, 'total_sequence_length', D])
      // Grouped-query attention by broadcasting: the G query heads of a group share one K/V head.
      // Transposed right before the MatMul, which onnxruntime fuses (no transposed copy of the cache).
      const keysT = g.transpose(g.unsqueeze(keys, [2]), [0, 1, 2, 4, 3]) // [B, KV, 1, D, T]
      const scores = g.where(allowed, g.mul(g.matmul(q5, keysT), scale), masked) // [B, KV, G, S, T]
      const out = g.matmul(g.softmax(scores, -1), g.unsqueeze(values, [2])) // [B, KV, G, S, D]
      merged = g.reshape(g.transpose(out, [0, 3, 1, 2, 4]), g.ints([-1, H * D]))
    }
    return project(merged, p + 'o_proj.weight') // [N, hidden]
  }

  const mlp = (x: string, i: number) => {
    const p = `model.layers.${i}.mlp.`
    const gate = project(x, p + 'gate_proj.weight') // [N, I]
    const silu = g.mul(gate, g.sigmoid(gate))
    return project(g.mul(silu, project(x, p + 'up_proj.weight')), p + 'down_proj.weight')
  }

  let h = g.gather(weight('model.embed_tokens.weight'), g.reshape(inputIds, g.ints([-1]))) // [N, hidden]
  const residualStream: string[] = []
  for (let i = 0; i < c.numLayers; i++) {
    residualStream.push(h)
    h = g.add(h, attention(rmsNorm(h, `model.layers.${i}.input_layernorm.weight`), i))
    h = g.add(h, mlp(rmsNorm(h, `model.layers.${i}.post_attention_layernorm.weight`), i))
  }
  residualStream.push(h)
  if (options.logits === 'last') {
    // Only the last position is needed to sample: skip the [N, V] head for the prompt.
    const last = slice(g.reshape(h, dims(hiddenSize)), 1, -1, Number.MAX_SAFE_INTEGER) // [B, 1, hidden]
    h = g.reshape(last, g.ints([-1, hiddenSize]))
  }
  const headName = c.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight'
  const normed = rmsNorm(h, 'model.norm.weight')
  if (packed) return { graph: g, adapters, residualStream, hidden: normed, headWeight: weight(headName) }
  const head = options.quantize
    ? quantizedLinear(g, normed, headName, [c.vocabSize, hiddenSize], () => load(headName), options.quantize, 'lm_head')
    : g.linear(normed, weight(headName)) // [N or B, V]
  const last = options.logits === 'last'
  g.output('logits', g.reshape(head, last ? g.ints([-1, 1, c.vocabSize]) : dims(c.vocabSize)), float, ['batch_size', last ? 1 : 'sequence_length', c.vocabSize])
  if (slots && last) samplingHead(g, head, c.vocabSize, options.draw ?? false)
  return { graph: g, adapters, residualStream, hidden: normed, headWeight: headName }
}

/**
 * What sampling needs from each row of logits [B, V], computed in the graph (vectorized, and on
 * the device where there is one), so that the sampler does no exp over the vocabulary:
 *   input inverse_temperature [B] (0 for a greedy row)
 *   -> argmax [B], log_z [B] = logsumexp(logits), weights [B, V] = exp((logits - max) * inverse_temperature),
 *      weight_sum [B].
 * With `draw`, also input uniform [B] (the row's random draw in [0, 1)) -> next_token [B]: the
 * argmax for a greedy row, else the first token whose cumulative weight (float32, in vocabulary
 * order) exceeds uniform * weight_sum, with its logit and weight (next_logit, next_weight [B]) for
 * its log-probabilities.
 * On the host the sampler (sampling.ts) reads the weights; on a device the engine fetches only
 * next_token and its two values for rows that need no top-k / top-p (nothing of size V crosses).
 */
export function samplingHead(g: Graph, logits: string, vocab: number, draw: boolean) {
  const inverseTemperature = g.input('inverse_temperature', g.float, ['batch_size'])
  const argmax = g.argMax(logits, 1, 0) // [B]
  const max = g.reduceMax(logits, [1], 1) // [B, 1]
  const shifted = g.sub(logits, max) // [B, V]
  const weights = g.exp(g.mul(shifted, g.unsqueeze(inverseTemperature, [1]))) // [B, V]
  const weightSum = g.reduceSum(weights, [1], 0) // [B]
  g.output('argmax', argmax, 'int64', ['batch_size'])
  // max + log sum exp(logits - max): onnxruntime's ReduceLogSumExp takes 3x as long on a CPU
  g.output('log_z', g.add(g.reshape(max, g.ints([-1])), g.log(g.reduceSum(g.exp(shifted), [1], 0))), g.float, ['batch_size'])
  g.output('weights', weights, g.float, ['batch_size', vocab])
  g.output('weight_sum', weightSum, g.float, ['batch_size'])
  if (!draw) return
  const uniform = g.input('uniform', g.float, ['batch_size'])
  const target = g.unsqueeze(g.mul(uniform, weightSum), [1]) // [B, 1]
  const below = g.reduceSum(g.cast(g.lessOrEqual(g.cumSum(weights, 1), target), 'int64'), [1], 0) // [B]
  const sampled = g.min(below, g.constant([vocab - 1], 'int64', []))
  const greedy = g.equal(inverseTemperature, g.scalar(0))
  const next = g.where(greedy, argmax, sampled)
  const at = (values: string) => g.reshape(g.gatherElements(values, g.unsqueeze(next, [1]), 1), g.ints([-1])) // [B]
  g.output('next_token', next, 'int64', ['batch_size'])
  g.output('next_logit', at(logits), g.float, ['batch_size'])
  g.output('next_weight', at(weights), g.float, ['batch_size'])
}

/**
 * x [N, K] @ W^T for W [N_out, K] in `bits`-bit blocks of QUANT_BLOCK along K with one float scale
 * per block, symmetric: w = (q - 2^(bits-1)) * scale, scale = max |w| / (2^(bits-1) - 1). The
 * blocks are made when the model is written, one weight at a time.
 */
function quantizedLinear(g: Graph, x: string, name: string, shape: number[], read: () => FloatArray, bits: 4 | 8, as = name.replace(/\.weight$/, '')) {
  const [N, K] = shape
  const blocks = Math.ceil(K / QUANT_BLOCK)
  let made: { data: Uint8Array; scales: Float32Array } | null = null
  const quantized = () => (made ??= quantize(read(), N, K, bits))
  const data = g.weight(`${as}.q${bits}`, [N, blocks, (QUANT_BLOCK * bits) / 8], () => quantized().data, 'uint8' as DType)
  const scales = g.weight(`${as}.scales`, [N * blocks], () => {
    const s = quantized().scales
    made = null // both parts written: let the blocks go
    return s
  })
  return g.matMulNBits(x, data, scales, '', { N, K, bits, blockSize: QUANT_BLOCK })
}

/** MatMulNBits' layout: per output row, K/QUANT_BLOCK blocks of packed unsigned values (4-bit: low nibble first). */
export function quantize(w: FloatArray, N: number, K: number, bits: 4 | 8): { data: Uint8Array; scales: Float32Array } {
  const blocks = Math.ceil(K / QUANT_BLOCK)
  const blob = (QUANT_BLOCK * bits) / 8
  const data = new Uint8Array(N * blocks * blob)
  const scales = new Float32Array(N * blocks)
  const zero = 1 << (bits - 1)
  const top = (1 << bits) - 1
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) {
      const start = n * K + b * QUANT_BLOCK
      const end = n * K + Math.min(K, (b + 1) * QUANT_BLOCK)
      let max = 0
      for (let i = start; i < end; i++) max = Math.max(max, Math.abs(w[i]))
      const scale = max / (zero - 1)
      scales[n * blocks + b] = scale
      const out = (n * blocks + b) * blob
      for (let i = start; i < end; i++) {
        const q = scale === 0 ? zero : Math.min(top, Math.max(0, Math.round(w[i] / scale) + zero))
        const j = i - start
        if (bits === 8) data[out + j] = q
        else data[out + (j >> 1)] |= j & 1 ? q << 4 : q
      }
      // a short last block is padded with the zero point
      for (let j = end - start; j < QUANT_BLOCK; j++) {
        if (bits === 8) data[out + j] = zero
        else data[out + (j >> 1)] |= j & 1 ? zero << 4 : zero
      }
    }
  }
  return { data, scales }
}
