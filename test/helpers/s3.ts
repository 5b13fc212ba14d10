import { CreateBucketCommand } from '@aws-sdk/client-s3'
import { inject } from 'vitest'
import type { S3Config } from '../../shared/config.ts'
import { S3BlobStore } from '../../shared/blob/s3.ts'
import { randomToken } from '../../shared/ids.ts'
import { TEST_BUCKET } from '../setup/global.ts'

export const s3Endpoint = inject('s3Endpoint')

// A store on the test S3 server under a prefix of its own, so test files never see each other.
export async function testS3Store(options: { partBytes?: number } = {}): Promise<S3BlobStore> {
  const config: S3Config = {
    bucket: TEST_BUCKET, endpoint: s3Endpoint, region: 'us-east-1', forcePathStyle: true,
    accessKeyId: 'test', secretAccessKey: 'test', prefix: `run-${randomToken(8)}/`,
  }
  const store = new S3BlobStore(config, options)
  try {
    await store.client.send(new CreateBucketCommand({ Bucket: TEST_BUCKET }))
  } catch (error) {
    if (!/BucketAlready(OwnedByYou|Exists)/.test((error as Error).name)) throw error
  }
  return store
}
