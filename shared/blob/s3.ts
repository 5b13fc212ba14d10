// The S3 blob store: AWS S3, Cloudflare R2 or any S3-compatible server. Uploads go through
// lib-storage's multipart Upload, which sends one PutObject for small bodies and parts for large
// ones; S3 shows an object only when its PutObject or CompleteMultipartUpload succeeds, and a
// failed upload is aborted, so a half-written object never appears under its key.
import {
  DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, NoSuchKey, NotFound, S3Client,
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { createHash } from 'node:crypto'
import type { S3Config } from '../config.ts'
import { type BlobBody, type BlobInfo, type BlobStore, checkBlobKey, toStream } from './store.ts'

const PART_BYTES = 8 * 1024 * 1024

// The SDK version is pinned (package.json); its warning about releases due in 2027 needing
// Node 22 says nothing about this install.
if (globalThis.process?.env) process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

export class S3BlobStore implements BlobStore {
  readonly kind = 's3'
  readonly client: S3Client
  private readonly partBytes: number

  constructor(private readonly config: S3Config, options: { partBytes?: number } = {}) {
    this.client = new S3Client({
      endpoint: config.endpoint,
      region: config.region,
      forcePathStyle: config.forcePathStyle,
      credentials: config.accessKeyId && config.secretAccessKey
        ? { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey }
        : undefined,
    })
    this.partBytes = options.partBytes ?? PART_BYTES
  }

  private objectKey(key: string) {
    return this.config.prefix + checkBlobKey(key)
  }

  async put(key: string, body: BlobBody, options: { contentType?: string } = {}): Promise<BlobInfo> {
    const hash = createHash('sha256')
    let bytes = 0
    const counted = toStream(body).pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        hash.update(chunk)
        bytes += chunk.length
        controller.enqueue(chunk)
      },
    }))
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.config.bucket, Key: this.objectKey(key), Body: counted,
        ContentType: options.contentType ?? 'application/octet-stream',
      },
      partSize: this.partBytes,
      queueSize: 4,
      leavePartsOnError: false,
    })
    await upload.done()
    return { bytes, sha256: hash.digest('hex') }
  }

  async get(key: string): Promise<ReadableStream<Uint8Array> | null> {
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: this.objectKey(key) }))
      return object.Body!.transformToWebStream() as ReadableStream<Uint8Array>
    } catch (error) {
      if (isMissing(error)) return null
      throw error
    }
  }

  async size(key: string): Promise<number | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key: this.objectKey(key) }))
      return head.ContentLength ?? 0
    } catch (error) {
      if (isMissing(error)) return null
      throw error
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = []
    let token: string | undefined
    do {
      const page = await this.client.send(new ListObjectsV2Command({
        Bucket: this.config.bucket, Prefix: this.config.prefix + prefix, ContinuationToken: token,
      }))
      for (const object of page.Contents ?? []) keys.push(object.Key!.slice(this.config.prefix.length))
      token = page.IsTruncated ? page.NextContinuationToken : undefined
    } while (token)
    return keys.sort()
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: this.objectKey(key) }))
  }

  async presignGet(key: string, expiresSeconds: number): Promise<string> {
    const command = new GetObjectCommand({ Bucket: this.config.bucket, Key: this.objectKey(key) })
    return getSignedUrl(this.client, command, { expiresIn: expiresSeconds })
  }
}

function isMissing(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
  return error instanceof NoSuchKey || error instanceof NotFound || status === 404
}
