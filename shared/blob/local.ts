// The local-folder blob store (Node only). Writes go to a temporary file in the same file
// system and are renamed into place, so a reader never sees a half-written object.
import { createHash, randomUUID } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises'
import { dirname, join, relative, sep } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { type BlobBody, type BlobInfo, type BlobStore, BlobKeyError, checkBlobKey, toStream } from './store.ts'

const INCOMING = '.incoming'

export class LocalBlobStore implements BlobStore {
  readonly kind = 'local'
  constructor(readonly root: string) {}

  private path(key: string) {
    const parts = checkBlobKey(key).split('/')
    if (parts[0] === INCOMING) throw new BlobKeyError(`blob key ${JSON.stringify(key)} is inside the store's temporary area`)
    return join(this.root, ...parts)
  }

  async put(key: string, body: BlobBody): Promise<BlobInfo> {
    const target = this.path(key)
    const temporary = join(this.root, INCOMING, randomUUID())
    await mkdir(dirname(temporary), { recursive: true })
    const hash = createHash('sha256')
    let bytes = 0
    const counted = Readable.fromWeb(toStream(body) as import('node:stream/web').ReadableStream).map((chunk: Buffer) => {
      hash.update(chunk)
      bytes += chunk.length
      return chunk
    })
    try {
      await pipeline(counted, createWriteStream(temporary))
      await mkdir(dirname(target), { recursive: true })
      await rename(temporary, target)
    } catch (error) {
      await rm(temporary, { force: true })
      throw error
    }
    return { bytes, sha256: hash.digest('hex') }
  }

  async get(key: string): Promise<ReadableStream<Uint8Array> | null> {
    const path = this.path(key)
    if ((await this.size(key)) === null) return null
    return Readable.toWeb(createReadStream(path)) as unknown as ReadableStream<Uint8Array>
  }

  async size(key: string): Promise<number | null> {
    try {
      const info = await stat(this.path(key))
      return info.isFile() ? info.size : null
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw error
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = []
    const walk = async (dir: string) => {
      let entries
      try {
        entries = await readdir(dir, { withFileTypes: true })
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
        throw error
      }
      for (const entry of entries) {
        const full = join(dir, entry.name)
        if (entry.isDirectory()) {
          if (full !== join(this.root, INCOMING)) await walk(full)
        } else {
          const key = relative(this.root, full).split(sep).join('/')
          if (key.startsWith(prefix)) keys.push(key)
        }
      }
    }
    await walk(this.root)
    return keys.sort()
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true })
  }

  async presignGet(): Promise<null> {
    return null
  }
}
