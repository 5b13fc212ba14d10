// Qwen3 as an ONNX graph, from a Hugging Face config.json and its weight names.
// Inputs and outputs are named as Hugging Face / optimum ONNX exports name them, so the file also
// runs in @huggingface/transformers:
//   input_ids [B, S] int64, attention_mask [B, T] int64 (1 = real token, 0 = left padding),
//   position_ids [B, S] int64, past_key_values.{i}.key/.value [B, KV, P, D]
//   -> logits [B, S, V] (or [B, 1, V] with logits: 'last'), present.{i}.key/.value [B, KV, T, D]
// where T = P + S. The residual stream is kept 2-D as [N = B*S, hidden] so that every projection
// is one Gemm against the Hugging Face [out, in] weight, with no transposed copy of any weight.
import { type FloatArray, type FloatType, Graph } from './onnx.ts'

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

export interface Qwen3GraphOptions {
  /** Element type of all floating-point values; float64 is for gradient checks. */
  float?: FloatType
  /** 'all' gives logits for every position (the Hugging Face export); 'last' only for the last one (generation). */
  logits?: 'all' | 'last'
}

export function buildQwen3(c: Qwen3Config, load: (name: string) => FloatArray, options: Qwen3GraphOptions = {}): Graph {
  const float = options.float ?? 'float32'
  const g = new Graph(float)
  const { numHeads: H, numKvHeads: KV, headDim: D, hiddenSize } = c
  const G = H / KV // query heads per key/value head
  const shapes = qwen3WeightShapes(c)
  const weight = (name: string) => (g.weights.has(name) ? name : g.weight(name, shapes.get(name)!, () => load(name)))

  const inputIds = g.input('input_ids', 'int64', ['batch_size', 'sequence_length'])
  const attentionMask = g.input('attention_mask', 'int64', ['batch_size', 'total_sequence_length'])
  const positionIds = g.input('position_ids', 'int64', ['batch_size', 'sequence_length'])
  const past = Array.from({ length: c.numLayers }, (_, i) =>
    (['key', 'value'] as const).map((kv) => g.input(`past_key_values.${i}.${kv}`, float, ['batch_size', KV, 'past_sequence_length', D])),
  )

  const bs = g.shape(inputIds) // [2] = (B, S)
  const dims = (...rest: number[]) => g.concat([bs, g.ints(rest)], 0) // (B, S, ...rest)

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

  // Attention mask, computed once: query at absolute index P+s sees key j when j <= P+s and
  // attention_mask[b, j] = 1. allowed [B, 1, 1, S, T] broadcasts over (KV, G).
  const scalarAt = (shape: string, i: number) => g.gather(shape, g.constant([i], 'int64', []))
  const total = scalarAt(g.shape(attentionMask), 1) // T
  const pastLen = scalarAt(g.shape(past[0][0]), 2) // P
  const one = g.constant([1], 'int64', [])
  const queryPos = g.unsqueeze(g.range(pastLen, total, one), [1]) // [S, 1]
  const keyPos = g.unsqueeze(g.range(g.constant([0], 'int64', []), total, one), [0]) // [1, T]
  const causal = g.lessOrEqual(keyPos, queryPos) // [S, T]
  const notPadding = g.unsqueeze(g.equal(attentionMask, one), [1, 2, 3]) // [B, 1, 1, 1, T]
  const allowed = g.and(causal, notPadding) // [B, 1, 1, S, T]
  // Masked scores are replaced (not added to), so nothing overflows; a fully padded query row
  // becomes uniform instead of NaN, and its output is never read.
  const masked = g.scalar(-3.4028234663852886e38)
  const scale = g.scalar(1 / Math.sqrt(D))

  const eps = g.scalar(c.rmsNormEps)
  const rmsNorm = (x: string, weightName: string) => {
    const meanSquare = g.reduceMean(g.mul(x, x), [-1])
    return g.mul(g.mul(x, g.reciprocal(g.sqrt(g.add(meanSquare, eps)))), weight(weightName))
  }

  const attention = (x: string, i: number) => {
    const p = `model.layers.${i}.self_attn.`
    const heads = (name: string, n: number) => g.reshape(g.linear(x, weight(p + name)), g.ints([-1, n, D])) // [N, n, D]
    const q = rope(rmsNorm(heads('q_proj.weight', H), p + 'q_norm.weight')) // [N, H, D]
    const k = rope(rmsNorm(heads('k_proj.weight', KV), p + 'k_norm.weight')) // [N, KV, D]
    const v = heads('v_proj.weight', KV)
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
    const merged = g.reshape(g.transpose(out, [0, 3, 1, 2, 4]), g.ints([-1, H * D])) // [N, H*D]
    return g.linear(merged, weight(p + 'o_proj.weight')) // [N, hidden]
  }

  const mlp = (x: string, i: number) => {
    const p = `model.layers.${i}.mlp.`
    const gate = g.linear(x, weight(p + 'gate_proj.weight')) // [N, I]
    const silu = g.mul(gate, g.sigmoid(gate))
    return g.linear(g.mul(silu, g.linear(x, weight(p + 'up_proj.weight'))), weight(p + 'down_proj.weight'))
  }

  let h = g.gather(weight('model.embed_tokens.weight'), g.reshape(inputIds, g.ints([-1]))) // [N, hidden]
  for (let i = 0; i < c.numLayers; i++) {
    h = g.add(h, attention(rmsNorm(h, `model.layers.${i}.input_layernorm.weight`), i))
    h = g.add(h, mlp(rmsNorm(h, `model.layers.${i}.post_attention_layernorm.weight`), i))
  }
  if (options.logits === 'last') {
    // Only the last position is needed to sample: skip the [N, V] head for the prompt.
    const last = slice(g.reshape(h, dims(hiddenSize)), 1, -1, Number.MAX_SAFE_INTEGER) // [B, 1, hidden]
    h = g.reshape(last, g.ints([-1, hiddenSize]))
  }
  const head = c.tieWordEmbeddings ? 'model.embed_tokens.weight' : weight('lm_head.weight')
  const logits = g.linear(rmsNorm(h, 'model.norm.weight'), head) // [N or B, V]
  const logitsShape = options.logits === 'last' ? g.ints([-1, 1, c.vocabSize]) : dims(c.vocabSize)
  g.output('logits', g.reshape(logits, logitsShape), float, ['batch_size', options.logits === 'last' ? 1 : 'sequence_length', c.vocabSize])
  return g
}
