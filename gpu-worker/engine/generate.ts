// Batched generation with continuous batching over a KV cache that stays put (cache.ts): each
// sequence owns a slot from the moment it joins until it ends; its prompt is prefilled straight
// into its slot (alone, in chunks), then every step decodes one token for every live slot in one
// run, appending to each slot in place. A sequence that ends frees its slot for the next waiting
// one; no other sequence's cache is copied, ever. Each sequence has its own seeded generator, so
// what it samples does not depend on which other sequences share its batch.
import { randomInt } from 'node:crypto'
import { totalmem } from 'node:os'
import { SlotCache } from './cache.ts'
import type { NativeTensor } from './native.ts'
import { type RowScores, type SamplingOptions, isFiltered, isGreedy, sampleToken, seededRandom } from './sampling.ts'
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
  /** log p(token), one per token (see SamplingOptions.logprobs). */
  logprobs: number[]
  finishReason: 'stop' | 'length' | 'abort'
}

interface Row {
  request: GenerationRequest
  random: () => number
  stop: Set<number>
  result: GenerationResult
  done: (error: Error | null) => void
  /** Tokens in the cache (= the position of the next input token). */
  length: number
  /** The last sampled token, not yet in the cache. */
  next: number
  /** This step's uniform draw (as fed to the graph). */
  uniform: number
  /** The most positions it can take: its prompt and every new token. */
  maxLength: number
}

export interface GeneratorOptions {
  /** Most sequences decoded together (default 32). */
  maxBatch?: number
  /** Prompt positions run per prefill run (default 512); bounds the attention-score memory. */
  prefillChunk?: number
  /** The most the KV cache may take (default: a quarter of this machine's memory); a sequence that does not fit waits. */
  maxCacheBytes?: number
  /**
   * 'host' (the default unless the engine was built with its draw, as on CPU): sample from the
   * graph's weights here. 'graph' (the default for an engine with graphDraw, as on CUDA): take the
   * graph's own draw (next_token) for rows without top-k / top-p, so nothing of size V leaves the
   * device; both give the same tokens.
   */
  sampling?: 'host' | 'graph'
}

/** The step's output buffers, allocated once for maxBatch rows and reused (no allocation per token). */
class Outputs {
  readonly logits: Float32Array
  readonly weights: Float32Array
  readonly logZ: Float32Array
  readonly weightSum: Float32Array
  readonly argmax: BigInt64Array
  readonly nextToken: BigInt64Array
  readonly nextLogit: Float32Array
  readonly nextWeight: Float32Array

  constructor(rows: number, readonly vocab: number) {
    this.logits = new Float32Array(rows * vocab)
    this.weights = new Float32Array(rows * vocab)
    this.logZ = new Float32Array(rows)
    this.weightSum = new Float32Array(rows)
    this.argmax = new BigInt64Array(rows)
    this.nextToken = new BigInt64Array(rows)
    this.nextLogit = new Float32Array(rows)
    this.nextWeight = new Float32Array(rows)
  }

  /** The outputs of a run of B rows: everything, or (whole = false) only the graph's draw; `draw`: the graph has one. */
  fetch(B: number, whole: boolean, draw: boolean): [string, NativeTensor][] {
    const V = this.vocab
    const rows = (name: string, data: Float32Array | BigInt64Array, type: 'float32' | 'int64'): [string, NativeTensor] =>
      [name, { type, dims: [B], data: data.subarray(0, B) }]
    const small = [rows('argmax', this.argmax, 'int64'), rows('log_z', this.logZ, 'float32'), rows('weight_sum', this.weightSum, 'float32')]
    if (draw) small.push(rows('next_token', this.nextToken, 'int64'), rows('next_logit', this.nextLogit, 'float32'), rows('next_weight', this.nextWeight, 'float32'))
    if (!whole) return small
    return [...small,
      ['logits', { type: 'float32', dims: [B, 1, V], data: this.logits.subarray(0, B * V) }],
      ['weights', { type: 'float32', dims: [B, V], data: this.weights.subarray(0, B * V) }]]
  }

  row(b: number): RowScores {
    const V = this.vocab
    return {
      logits: this.logits.subarray(b * V, (b + 1) * V), weights: this.weights.subarray(b * V, (b + 1) * V),
      weightSum: this.weightSum[b], logZ: this.logZ[b], argmax: Number(this.argmax[b]),
    }
  }
}

export class Generator {
  private readonly waiting: Row[] = []
  /** The row in each slot (null: free). */
  private readonly slots: (Row | null)[] = []
  private running = false
  readonly maxBatch: number
  readonly prefillChunk: number
  readonly sampling: 'host' | 'graph'
  readonly cache: SlotCache
  private readonly outputs: Outputs
  private readonly prefillOutputs: Outputs

  constructor(readonly engine: Engine, options: GeneratorOptions = {}) {
    this.maxBatch = options.maxBatch ?? 32
    this.prefillChunk = options.prefillChunk ?? 512
    const cuda = engine.provider === 'cuda'
    this.sampling = options.sampling ?? (engine.graphDraw ? 'graph' : 'host')
    if (this.sampling === 'graph' && !engine.graphDraw) throw new Error("sampling: 'graph' needs an engine built with its draw (EngineOptions.graphDraw)")
    const maxBytes = options.maxCacheBytes ?? totalmem() / 4
    this.cache = new SlotCache(engine.config, maxBytes, this.maxBatch, cuda ? engine.session : undefined)
    this.outputs = new Outputs(this.maxBatch, engine.config.vocabSize)
    this.prefillOutputs = new Outputs(1, engine.config.vocabSize)
  }

  generate(request: GenerationRequest): Promise<GenerationResult> {
    if (request.promptIds.length === 0) return Promise.reject(new Error('promptIds is empty'))
    const result: GenerationResult = { tokens: [], logprobs: [], finishReason: 'length' }
    if (request.maxNewTokens <= 0) return Promise.resolve(result)
    const room = request.promptIds.length + request.maxNewTokens
    if (!this.cache.fits(1, room)) {
      return Promise.reject(new Error(`a context of ${room} tokens needs ${(room * this.cache.positionBytes / 2 ** 30).toFixed(1)} GiB of KV cache, more than the ${(this.cache.maxBytes / 2 ** 30).toFixed(1)} GiB allowed (GeneratorOptions.maxCacheBytes)`))
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({
        request,
        random: seededRandom(request.seed ?? randomInt(2 ** 32)),
        stop: new Set(request.stopTokenIds ?? this.engine.checkpoint.stopTokenIds),
        result,
        done: (error) => (error ? reject(error) : resolve(result)),
        length: 0,
        next: -1,
        uniform: 0,
        maxLength: request.promptIds.length + request.maxNewTokens,
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

  private live(): Row[] { return this.slots.filter((r): r is Row => r !== null) }

  /** Frees the slots of finished rows, and drops free slots at the top (they would run as dummies). */
  private release() {
    for (const [s, row] of this.slots.entries()) if (row && this.finished(row)) this.slots[s] = null
    while (this.slots.length && this.slots.at(-1) === null) this.slots.pop()
  }

  private async loop() {
    while (this.waiting.length || this.live().length) {
      try {
        await this.admit()
        this.release()
        if (this.live().length) await this.decode()
        this.release()
      } catch (error) {
        for (const row of [...this.live(), ...this.waiting.splice(0)]) row.done(error as Error)
        this.slots.fill(null)
      }
    }
    this.slots.length = 0
  }

  /** Gives waiting rows the lowest free slots while the cache has room, and prefills each into its slot. */
  private async admit() {
    while (this.waiting.length) {
      const free = this.slots.indexOf(null)
      const slot = free >= 0 ? free : this.slots.length
      if (slot >= this.maxBatch) return
      const row = this.waiting[0]
      if (row.request.signal?.aborted) {
        this.waiting.shift()
        row.result.finishReason = 'abort'
        row.done(null)
        continue
      }
      // The cache is rectangular (slots x width): admit only what fits with every live row at its longest.
      const slotsAfter = Math.max(slot + 1, this.slots.length)
      if (!this.cache.fits(slotsAfter, Math.max(row.maxLength, ...this.live().map((r) => r.maxLength)))) return
      if (!this.cache.reserve(slotsAfter, row.request.promptIds.length + 1, this.lengths())) return
      this.waiting.shift()
      this.slots[slot] = row
      await this.prefill(row, slot)
    }
  }

  /** Each slot's live length (0 for a free one): what a growing cache keeps. */
  private lengths(): number[] { return this.slots.map((r) => r?.length ?? 0) }

  /** Runs a row's prompt into its slot in chunks of prefillChunk positions and samples its first token. */
  private async prefill(row: Row, slot: number) {
    const prompt = row.request.promptIds
    const { past, present } = this.cache.tensors(slot, 1)
    for (let start = 0; start < prompt.length; start += this.prefillChunk) {
      const end = Math.min(prompt.length, start + this.prefillChunk)
      const S = end - start
      const inputs: [string, NativeTensor][] = [
        ['input_ids', { type: 'int64', dims: [1, S], data: BigInt64Array.from(prompt.slice(start, end), BigInt) }],
        ['position_ids', { type: 'int64', dims: [1, S], data: BigInt64Array.from({ length: S }, (_, i) => BigInt(start + i)) }],
        ['seqlens_k', { type: 'int32', dims: [1], data: Int32Array.of(end - 1) }],
        ['total_sequence_length', { type: 'int32', dims: [], data: Int32Array.of(end) }],
        ...this.samplingInputs([row], end === prompt.length),
        ...past,
      ]
      const whole = end === prompt.length && this.needsWhole([row])
      await this.engine.run(inputs, [...this.prefillOutputs.fetch(1, whole, this.engine.graphDraw), ...present])
    }
    row.length = prompt.length
    this.take(row, 0, this.prefillOutputs)
  }

  /** One decoding step for every live slot (free slots below the highest run as dummies of length 1). */
  private async decode() {
    const B = this.slots.length
    const rows = this.slots
    if (!this.cache.reserve(B, Math.max(...rows.map((r) => (r ? r.length + 1 : 1))), this.lengths())) {
      throw new Error('the KV cache outgrew its budget') // admission reserves every live row's longest
    }
    const { past, present } = this.cache.tensors(0, B)
    const inputs: [string, NativeTensor][] = [
      ['input_ids', { type: 'int64', dims: [B, 1], data: BigInt64Array.from(rows, (r) => BigInt(r ? r.next : 0)) }],
      ['position_ids', { type: 'int64', dims: [B, 1], data: BigInt64Array.from(rows, (r) => BigInt(r ? r.length : 0)) }],
      ['seqlens_k', { type: 'int32', dims: [B], data: Int32Array.from(rows, (r) => (r ? r.length : 0)) }],
      ['total_sequence_length', { type: 'int32', dims: [], data: Int32Array.of(Math.max(...rows.map((r) => (r ? r.length + 1 : 1)))) }],
      ...this.samplingInputs(rows, true),
      ...past,
    ]
    const live = this.live()
    await this.engine.run(inputs, [...this.outputs.fetch(B, this.needsWhole(live), this.engine.graphDraw), ...present])
    for (const [b, row] of rows.entries()) {
      if (!row) continue
      row.length += 1
      this.take(row, b, this.outputs)
    }
  }

  /**
   * Each row's 1 / temperature (0: greedy) and, when this run samples (`draw`), its uniform draw:
   * one per sampled token, none for a greedy row, so a row's stream does not depend on its batch.
   */
  private samplingInputs(rows: (Row | null)[], draw: boolean): [string, NativeTensor][] {
    const inverse = new Float32Array(rows.length)
    const uniform = new Float32Array(rows.length)
    rows.forEach((row, b) => {
      if (!row || isGreedy(row.request)) return
      inverse[b] = 1 / (row.request.temperature ?? 1)
      if (draw) row.uniform = uniform[b] = row.random()
    })
    const inputs: [string, NativeTensor][] = [['inverse_temperature', { type: 'float32', dims: [rows.length], data: inverse }]]
    if (this.engine.graphDraw) inputs.push(['uniform', { type: 'float32', dims: [rows.length], data: uniform }])
    return inputs
  }

  /** Whether this step needs the V-sized outputs on the host: always when sampling here, else for top-k / top-p rows. */
  private needsWhole(rows: Row[]): boolean {
    return this.sampling === 'host' || rows.some((r) => isFiltered(r.request))
  }

  /** Row b's token from the step's outputs: the graph's draw, or the host sampler on the weights. */
  private take(row: Row, b: number, out: Outputs) {
    const o = row.request
    let token: number
    let logprob: number
    if (this.sampling === 'graph' && !isFiltered(o)) {
      token = Number(out.nextToken[b])
      const greedy = isGreedy(o)
      logprob = o.logprobs === 'sampling' ? (greedy ? 0 : Math.log(out.nextWeight[b] / out.weightSum[b])) : out.nextLogit[b] - out.logZ[b]
    } else {
      // the host sampler uses the draw the graph was fed
      ;({ token, logprob } = sampleToken(out.row(b), o, row.uniform))
    }
    row.result.tokens.push(token)
    row.result.logprobs.push(logprob)
    row.next = token
    o.onToken?.(token, logprob)
  }

  /** Settles a row whose generation is over; true if it must leave its slot. */
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
