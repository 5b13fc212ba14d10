// Batched generation with a KV cache and continuous batching: sequences of different lengths run
// in one batch (left-padded; the attention mask hides the padding), a finished sequence leaves
// after any step and a waiting one joins: it is prefilled on its own and its cache is merged into
// the running batch's. Each sequence has its own seeded generator, so what it samples does not
// depend on which other sequences share its batch.
import { randomInt } from 'node:crypto'
import { type SamplingOptions, sampleToken, seededRandom } from './sampling.ts'
import type { Engine } from './session.ts'

export interface GenerationRequest extends SamplingOptions {
  /** The context's token ids (at least one). */
  promptIds: number[]
  maxNewTokens: number
  /** Generation ends after one of these is sampled (it is included in the output). Default: the checkpoint's eos ids. */
  stopTokenIds?: number[]
  /** Seeds this sequence's sampler; without it the sampler is seeded at random. */
  seed?: number
  /** Aborting stops this sequence after the current step (finishReason 'abort'). */
  signal?: AbortSignal
  /** Called for every sampled token, as soon as it is sampled. */
  onToken?: (token: number, logprob: number) => void
}

export interface GenerationResult {
  tokens: number[]
  /** log p(token) under the model (raw logits, temperature 1), one per token. */
  logprobs: number[]
  finishReason: 'stop' | 'length' | 'abort'
}

interface Row {
  request: GenerationRequest
  random: () => number
  stop: Set<number>
  result: GenerationResult
  done: (error: Error | null) => void
  /** Real tokens in the cache (= the position of the next input token). */
  length: number
  /** The last sampled token, not yet in the cache. */
  next: number
}

/** The running batch: rows share one cache of T columns; row r's first T - length columns are padding. */
interface Batch { rows: Row[]; T: number; past: Float32Array[] }

export interface GeneratorOptions {
  /** Most sequences decoded together (default 32). */
  maxBatch?: number
  /** Prompt positions run per prefill step (default 512); bounds the attention-score memory. */
  prefillChunk?: number
}

export class Generator {
  private readonly waiting: Row[] = []
  private batch: Batch = { rows: [], T: 0, past: [] }
  private running = false
  readonly maxBatch: number
  readonly prefillChunk: number

  constructor(readonly engine: Engine, options: GeneratorOptions = {}) {
    this.maxBatch = options.maxBatch ?? 32
    this.prefillChunk = options.prefillChunk ?? 512
  }

  generate(request: GenerationRequest): Promise<GenerationResult> {
    if (request.promptIds.length === 0) return Promise.reject(new Error('promptIds is empty'))
    const result: GenerationResult = { tokens: [], logprobs: [], finishReason: 'length' }
    if (request.maxNewTokens <= 0) return Promise.resolve(result)
    return new Promise((resolve, reject) => {
      this.waiting.push({
        request,
        random: seededRandom(request.seed ?? randomInt(2 ** 32)),
        stop: new Set(request.stopTokenIds ?? this.engine.checkpoint.stopTokenIds),
        result,
        done: (error) => (error ? reject(error) : resolve(result)),
        length: 0,
        next: -1,
      })
      this.kick()
    })
  }

  private kick() {
    if (this.running) return
    this.running = true
    void this.loop().finally(() => {
      this.running = false
      if (this.waiting.length) this.kick()
    })
  }

  private async loop() {
    while (this.waiting.length || this.batch.rows.length) {
      const joining = this.waiting.splice(0, this.maxBatch - this.batch.rows.length).filter((row) => !this.finished(row))
      try {
        const joined = joining.length ? await this.prefill(joining) : null
        const alive = (b: Batch) => b.rows.filter((r) => !this.finished(r))
        const sources = [this.batch, ...(joined ? [joined] : [])]
        this.batch = merge(sources.map((b) => ({ batch: b, rows: alive(b) })), this.engine.config)
        if (this.batch.rows.length) {
          await this.decode()
          this.batch = merge([{ batch: this.batch, rows: alive(this.batch) }], this.engine.config)
        }
      } catch (error) {
        for (const row of [...this.batch.rows, ...joining]) row.done(error as Error)
        this.batch = { rows: [], T: 0, past: [] }
      }
    }
  }

  /**
   * Runs the prompts of newly admitted rows as one left-padded batch, in chunks of prefillChunk
   * positions (so attention scores stay [B, H, chunk, T], not [B, H, L, L]), and samples their first token.
   */
  private async prefill(rows: Row[]): Promise<Batch> {
    const { numLayers, padTokenId } = this.engine.config
    const B = rows.length
    const L = Math.max(...rows.map((r) => r.request.promptIds.length))
    const ids: number[] = [], mask: number[] = [], positions: number[] = []
    for (const row of rows) {
      const prompt = row.request.promptIds
      const pad = L - prompt.length
      for (let j = 0; j < L; j++) {
        ids.push(j < pad ? (padTokenId ?? 0) : prompt[j - pad])
        mask.push(j < pad ? 0 : 1)
        positions.push(j < pad ? 0 : j - pad)
      }
      row.length = prompt.length
    }
    const columns = (m: number[], from: number, to: number) => rows.flatMap((_, b) => m.slice(b * L + from, b * L + to))
    let past: Float32Array[] = Array.from({ length: 2 * numLayers }, () => new Float32Array(0))
    let logits: Float32Array = new Float32Array(0)
    for (let start = 0; start < L; start += this.prefillChunk) {
      const end = Math.min(L, start + this.prefillChunk)
      const out = await this.engine.forward({
        inputIds: columns(ids, start, end), batch: B, attentionMask: columns(mask, 0, end), positionIds: columns(positions, start, end), past,
      })
      past = out.present
      logits = out.logits
    }
    this.sample(rows, logits)
    return { rows, T: L, past }
  }

  /** One decoding step for the whole running batch: feeds each row's last sampled token. */
  private async decode() {
    const { rows, T } = this.batch
    const mask: number[] = []
    for (const row of rows) for (let j = 0; j <= T; j++) mask.push(j >= T - row.length ? 1 : 0)
    const out = await this.engine.forward({
      inputIds: rows.map((r) => r.next),
      batch: rows.length,
      attentionMask: mask,
      positionIds: rows.map((r) => r.length),
      past: this.batch.past,
    })
    for (const row of rows) row.length += 1
    this.batch = { rows, T: T + 1, past: out.present }
    this.sample(rows, out.logits)
  }

  private sample(rows: Row[], logits: Float32Array) {
    const V = this.engine.config.vocabSize
    rows.forEach((row, b) => {
      const { token, logprob } = sampleToken(logits.subarray(b * V, (b + 1) * V), row.request, row.random)
      row.result.tokens.push(token)
      row.result.logprobs.push(logprob)
      row.next = token
      row.request.onToken?.(token, logprob)
    })
  }

  /** Settles a row whose generation is over; true if it must leave the batch. */
  private finished(row: Row): boolean {
    const { tokens } = row.result
    let reason: GenerationResult['finishReason'] | null = null
    if (row.request.signal?.aborted) reason = 'abort'
    else if (row.stop.has(tokens[tokens.length - 1])) reason = 'stop'
    else if (tokens.length >= row.request.maxNewTokens) reason = 'length'
    if (!reason) return false
    row.result.finishReason = reason
    row.done(null)
    return true
  }
}

/**
 * Builds a batch from rows of other batches. The new width is the longest row's real length (so
 * columns that only padded finished rows are dropped); each row's cache is right-aligned.
 */
function merge(parts: { batch: Batch; rows: Row[] }[], config: Engine['config']): Batch {
  const { numLayers, numKvHeads: KV, headDim: D } = config
  if (parts.length === 1 && parts[0].rows.length === parts[0].batch.rows.length) return parts[0].batch
  const rows = parts.flatMap((p) => p.rows)
  const T = Math.max(0, ...rows.map((r) => r.length))
  const B = rows.length
  const past = Array.from({ length: 2 * numLayers }, () => new Float32Array(B * KV * T * D))
  let r = 0
  for (const { batch, rows: keep } of parts) {
    for (const row of keep) {
      const src = batch.rows.indexOf(row)
      for (let t = 0; t < 2 * numLayers; t++) {
        for (let h = 0; h < KV; h++) {
          const from = ((src * KV + h) * batch.T + (batch.T - row.length)) * D
          const to = ((r * KV + h) * T + (T - row.length)) * D
          past[t].set(batch.past[t].subarray(from, from + row.length * D), to)
        }
      }
      r++
    }
  }
  return { rows, T, past }
}
