// A tar archive written as a stream (POSIX pax format, which GNU tar, bsdtar and Python's tarfile
// read): each file's 512-byte header, then its bytes as the store hands them over, padded to a
// multiple of 512, then two empty blocks. A path longer than ustar's 100 bytes or a size past its
// 8 GiB goes in a pax header before the file's own. Nothing is buffered beyond one header, so a
// checkpoint of any size streams through in constant memory; its length is known in advance.
const BLOCK = 512
const USTAR_MAX_SIZE = 0o77777777777 // 11 octal digits: 8 GiB - 1
const encoder = new TextEncoder()

export interface TarEntry {
  path: string
  bytes: number
  open(): Promise<ReadableStream<Uint8Array>>
}

const padding = (bytes: number) => (BLOCK - (bytes % BLOCK)) % BLOCK

/** The pax records of an entry that ustar's fields cannot hold; empty when they can. */
function paxRecords(entry: TarEntry): Uint8Array {
  const records: string[] = []
  const record = (key: string, value: string) => {
    // "<length> <key>=<value>\n", the length counting its own digits
    const body = ` ${key}=${value}\n`
    let length = encoder.encode(body).length + 1
    while (String(length).length + encoder.encode(body).length !== length) length += 1
    records.push(`${length}${body}`)
  }
  if (encoder.encode(entry.path).length > 100) record('path', entry.path)
  if (entry.bytes > USTAR_MAX_SIZE) record('size', String(entry.bytes))
  return encoder.encode(records.join(''))
}

function header(name: string, bytes: number, type: '0' | 'x', mtime: number): Uint8Array {
  const block = new Uint8Array(BLOCK)
  const put = (offset: number, length: number, value: string) => block.set(encoder.encode(value).subarray(0, length), offset)
  const octal = (offset: number, length: number, value: number) => put(offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`)
  put(0, 100, name)
  octal(100, 8, 0o644)
  octal(108, 8, 0)
  octal(116, 8, 0)
  octal(124, 12, Math.min(bytes, USTAR_MAX_SIZE))
  octal(136, 12, mtime)
  put(148, 8, '        ') // the checksum is summed with its own field as spaces
  put(156, 1, type)
  put(257, 8, 'ustar\x0000')
  const sum = block.reduce((total, byte) => total + byte, 0)
  put(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `)
  return block
}

/** The entry's header blocks: a pax header when needed, then its own (a name cut to ustar's 100 bytes). */
function headers(entry: TarEntry, mtime: number): Uint8Array[] {
  const pax = paxRecords(entry)
  const own = header(cutToBytes(entry.path, 100), entry.bytes, '0', mtime)
  if (pax.length === 0) return [own]
  const paxBody = new Uint8Array(pax.length + padding(pax.length))
  paxBody.set(pax)
  return [header(cutToBytes(`PaxHeader/${entry.path}`, 100), pax.length, 'x', mtime), paxBody, own]
}

function cutToBytes(text: string, bytes: number): string {
  let cut = text
  while (encoder.encode(cut).length > bytes) cut = cut.slice(0, -1)
  return cut
}

/** The archive's length in bytes, for Content-Length. */
export function tarSize(entries: TarEntry[]): number {
  return entries.reduce((total, entry) => {
    const pax = paxRecords(entry).length
    return total + (pax ? 2 * BLOCK + pax + padding(pax) : BLOCK) + entry.bytes + padding(entry.bytes)
  }, 2 * BLOCK)
}

/**
 * The archive as a stream. A file whose stored bytes are fewer or more than its entry says ends the
 * stream with an error (the client sees a cut download, never a wrong file under the right name).
 */
export function tarStream(entries: TarEntry[], mtime = Math.floor(Date.now() / 1000)): ReadableStream<Uint8Array> {
  async function* blocks(): AsyncGenerator<Uint8Array> {
    for (const entry of entries) {
      yield* headers(entry, mtime)
      let seen = 0
      for await (const chunk of (await entry.open()) as unknown as AsyncIterable<Uint8Array>) {
        seen += chunk.length
        if (seen > entry.bytes) throw new Error(`${entry.path}: the stored object is longer than its ${entry.bytes} bytes`)
        yield chunk
      }
      if (seen !== entry.bytes) throw new Error(`${entry.path}: the stored object has ${seen} of its ${entry.bytes} bytes`)
      if (padding(entry.bytes)) yield new Uint8Array(padding(entry.bytes))
    }
    yield new Uint8Array(2 * BLOCK)
  }
  const source = blocks()
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await source.next()
      if (done) controller.close()
      else controller.enqueue(value)
    },
    async cancel() { await source.return(undefined) },
  }, { highWaterMark: 0 })
}
