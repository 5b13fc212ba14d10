// Node-only: the blob store the configuration names (S3 when S3_BUCKET is set, else a local folder).
import { join } from 'node:path'
import type { Config } from '../config.ts'
import { LocalBlobStore } from './local.ts'
import { S3BlobStore } from './s3.ts'
import type { BlobStore } from './store.ts'

export function openBlobStore(config: Pick<Config, 's3' | 'dataDir'>): BlobStore {
  return config.s3 ? new S3BlobStore(config.s3) : new LocalBlobStore(join(config.dataDir, 'blobs'))
}
