// Configuration from environment variables, validated once at start-up. It takes the env object
// rather than process.env so the Cloudflare Worker can pass its bindings.
import { z } from 'zod'

const int = (fallback: number, min = 1) => z.coerce.number().int().min(min).default(fallback)
const flag = (fallback: boolean) =>
  z.enum(['true', 'false', '1', '0']).default(fallback ? 'true' : 'false').transform((v) => v === 'true' || v === '1')

const envSchema = z.object({
  PORT: int(8787, 0).pipe(z.number().max(65535)),
  HOST: z.string().min(1).default('127.0.0.1'),
  PROMPT_R1_DATA_DIR: z.string().min(1).default('.prompt-r1'),
  PROMPT_R1_ADMIN_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
  S3_BUCKET: z.string().min(1).optional(),
  S3_ENDPOINT: z.url().optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_FORCE_PATH_STYLE: flag(false),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_PREFIX: z.string().default(''),
  PROMPT_R1_IN_PROCESS_WORKER: flag(true),
  PROMPT_R1_LEASE_SECONDS: int(60),
  PROMPT_R1_HEARTBEAT_SECONDS: int(10),
  PROMPT_R1_MAX_ATTEMPTS: int(3),
  PROMPT_R1_POLL_MS: int(1000),
  PROMPT_R1_MAX_BODY_BYTES: int(1024 * 1024),
  PROMPT_R1_MAX_UPLOAD_BYTES: int(100 * 1024 * 1024),
  PROMPT_R1_DOWNLOAD_URL_SECONDS: int(3600),
})

export interface S3Config {
  bucket: string
  endpoint?: string
  region: string
  forcePathStyle: boolean
  accessKeyId?: string
  secretAccessKey?: string
  prefix: string
}

export interface Config {
  port: number
  host: string
  dataDir: string
  adminKey?: string
  databaseUrl?: string
  // undefined: the local folder blob store under dataDir
  s3?: S3Config
  inProcessWorker: boolean
  queue: { leaseMs: number; heartbeatMs: number; maxAttempts: number; pollMs: number }
  limits: { maxBodyBytes: number; maxUploadBytes: number }
  downloadUrlSeconds: number
}

export class ConfigError extends Error {}

export function loadConfig(env: Record<string, string | undefined>): Config {
  const defined = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''))
  const parsed = envSchema.safeParse(defined)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`)
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`)
  }
  const e = parsed.data
  if (e.PROMPT_R1_HEARTBEAT_SECONDS >= e.PROMPT_R1_LEASE_SECONDS) {
    throw new ConfigError('invalid configuration:\n  PROMPT_R1_HEARTBEAT_SECONDS: must be shorter than PROMPT_R1_LEASE_SECONDS')
  }
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir: e.PROMPT_R1_DATA_DIR,
    adminKey: e.PROMPT_R1_ADMIN_KEY,
    databaseUrl: e.DATABASE_URL,
    s3: e.S3_BUCKET ? {
      bucket: e.S3_BUCKET, endpoint: e.S3_ENDPOINT, region: e.S3_REGION, forcePathStyle: e.S3_FORCE_PATH_STYLE,
      accessKeyId: e.S3_ACCESS_KEY_ID, secretAccessKey: e.S3_SECRET_ACCESS_KEY, prefix: e.S3_PREFIX,
    } : undefined,
    inProcessWorker: e.PROMPT_R1_IN_PROCESS_WORKER,
    queue: {
      leaseMs: e.PROMPT_R1_LEASE_SECONDS * 1000,
      heartbeatMs: e.PROMPT_R1_HEARTBEAT_SECONDS * 1000,
      maxAttempts: e.PROMPT_R1_MAX_ATTEMPTS,
      pollMs: e.PROMPT_R1_POLL_MS,
    },
    limits: { maxBodyBytes: e.PROMPT_R1_MAX_BODY_BYTES, maxUploadBytes: e.PROMPT_R1_MAX_UPLOAD_BYTES },
    downloadUrlSeconds: e.PROMPT_R1_DOWNLOAD_URL_SECONDS,
  }
}
