// The generator's KV cache: per layer and K/V one buffer [slots, KV, width, D] (the 'slots' layout
// of qwen3.ts). A sequence owns a slot for its whole life and its positions start at 0, so a step
// appends in place and a sequence joins or leaves without touching anyone else's cache. The buffers
// grow (and are copied, live positions only) when a sequence needs more room or more slots, by
// doubling, so growth costs O(1) amortised per token; never past `maxBytes`.
import type { NativeSession, NativeTensor, DeviceMemory } from './native.ts'
import type { Qwen3Config } from './qwen3.ts'

export class SlotCache {
  slots = 0
  width = 0
  private host: Float32Array[] = []
  private device: DeviceMemory[] = []
  /** Bytes of one position of one slot, all layers, K and V. */
  readonly positionBytes: number

  constructor(
    readonly config: Qwen3Config,
    /** The most the buffers may take. */
    readonly maxBytes: number,
    /** Slots made at the first allocation where the budget allows (the generator's batch), so rows join without growth. */
    private readonly initialSlots = 1,
    /** A CUDA session keeps the cache in its device memory, allocated once: initialSlots slots, as wide as maxBytes allows. */
    session?: NativeSession,
  ) {
    this.positionBytes = 2 * config.numLayers * config.numKvHeads * config.headDim * 4
    if (session) {
      this.slots = initialSlots
      this.width = Math.floor(maxBytes / (initialSlots * this.positionBytes))
      if (this.width < 1) throw new Error(`a KV cache of ${maxBytes} bytes holds no position of ${initialSlots} slots`)
      const bytes = initialSlots * this.width * this.positionBytes / (2 * config.numLayers)
      this.device = Array.from({ length: 2 * config.numLayers }, () => session.allocate(bytes))
    }
  }

  /** Whether `slots` slots of `width` positions fit the budget. */
  fits(slots: number, width: number): boolean {
    return slots * width * this.positionBytes <= this.maxBytes
  }

  /**
   * Makes room for slots [0, slots) with `width` positions each (rounded up to powers of two),
   * keeping the first lengths[s] positions of each live slot. False if that exceeds the budget.
   */
  reserve(slots: number, width: number, lengths: number[]): boolean {
    if (slots <= this.slots && width <= this.width) return true
    if (this.device.length) return false
    let newSlots = Math.max(this.slots, pow2(slots))
    const newWidth = Math.max(this.width, pow2(Math.max(width, 64)))
    if (this.slots === 0) while (newSlots < this.initialSlots && this.fits(2 * newSlots, newWidth)) newSlots *= 2
    if (!this.fits(newSlots, newWidth)) {
      // without the rounding it may still fit
      const [s, w] = [Math.max(this.slots, slots), Math.max(this.width, width)]
      if (!this.fits(s, w)) return false
      return this.grow(s, w, lengths)
    }
    return this.grow(newSlots, newWidth, lengths)
  }

  private grow(slots: number, width: number, lengths: number[]): boolean {
    const { numKvHeads: KV, headDim: D } = this.config
    this.host = this.host.length ? this.host : Array.from({ length: 2 * this.config.numLayers }, () => new Float32Array(0))
    this.host = this.host.map((old) => {
      const next = new Float32Array(slots * KV * width * D)
      lengths.forEach((length, s) => {
        for (let h = 0; h < KV && length > 0; h++) {
          const from = (s * KV + h) * this.width * D
          next.set(old.subarray(from, from + length * D), (s * KV + h) * width * D)
        }
      })
      return next
    })
    this.slots = slots
    this.width = width
    return true
  }

  /** The cache of slots [first, first + count) as the past inputs and present outputs of a run. */
  tensors(first: number, count: number): { past: [string, NativeTensor][]; present: [string, NativeTensor][] } {
    const { numKvHeads: KV, headDim: D, numLayers } = this.config
    const dims = [count, KV, this.width, D]
    const slotFloats = KV * this.width * D
    const past: [string, NativeTensor][] = []
    const present: [string, NativeTensor][] = []
    for (let i = 0; i < numLayers; i++) {
      ;(['key', 'value'] as const).forEach((kv, j) => {
        const t = 2 * i + j
        const tensor: NativeTensor = this.device.length
          ? { type: 'float32', dims, device: this.device[t], offset: first * slotFloats * 4 }
          : { type: 'float32', dims, data: this.host[t].subarray(first * slotFloats, (first + count) * slotFloats) }
        past.push([`past_key_values.${i}.${kv}`, tensor])
        present.push([`present.${i}.${kv}`, tensor])
      })
    }
    return { past, present }
  }
}

const pow2 = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)))
