// Configuration from environment variables, validated once at start-up. It takes the env object
// rather than process.env so the Cloudflare Worker can pass its bindings.
import { join, resolve } from 'node:path'
import { z } from 'zod'
import { PUBLISHED_EMBEDDER } from './protocol/metrics.ts'

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
  // who runs the agents behind the chat API: this process's model thread, or GPU workers
  PROMPT_R1_CHAT_AGENTS: z.enum(['in-process', 'workers']).default('in-process'),
  // the secret the edge and the workers' inference endpoints share
  PROMPT_R1_WORKER_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
  PROMPT_R1_WORKER_PORT: int(8788, 0).pipe(z.number().max(65535)),
  // the base URL the edge reaches this worker's inference endpoint at
  PROMPT_R1_WORKER_URL: z.url().optional(),
  PROMPT_R1_WORKER_SLOTS: int(16),
  PROMPT_R1_LEASE_SECONDS: int(60),
  PROMPT_R1_HEARTBEAT_SECONDS: int(10),
  PROMPT_R1_MAX_ATTEMPTS: int(3),
  PROMPT_R1_POLL_MS: int(1000),
  PROMPT_R1_MAX_BODY_BYTES: int(1024 * 1024),
  PROMPT_R1_MAX_UPLOAD_BYTES: int(100 * 1024 * 1024),
  PROMPT_R1_DOWNLOAD_URL_SECONDS: int(3600),
  PROMPT_R1_PUBLIC_URL: z.url().optional(),
  PROMPT_R1_MODEL_FOLDERS: z.string().optional(),
  PROMPT_R1_REQUEST_TIMEOUT_SECONDS: int(30),
  PROMPT_R1_CHAT_TIMEOUT_SECONDS: int(300),
  PROMPT_R1_AGENT_MODEL: z.string().min(1).optional(),
  PROMPT_R1_AGENT_NAME: z.string().regex(/^[A-Za-z0-9._:/-]{1,200}$/).default('prompt-r1-agent'),
  PROMPT_R1_ENV_BASE_URL: z.url().optional(),
  PROMPT_R1_ENV_MODEL: z.string().min(1).optional(),
  PROMPT_R1_ENV_API_KEY: z.string().min(1).optional(),
  PROMPT_R1_ALLOW_LOOPBACK_ENVIRONMENT: z.enum(['true', 'false', '1', '0']).optional(),
  PROMPT_R1_ENGINE_THREADS: z.coerce.number().int().min(1).max(256).optional(),
  PROMPT_R1_ENGINE_PROVIDER: z.enum(['cpu', 'cuda']).default('cpu'),
  PROMPT_R1_ENGINE_DEVICE_ID: int(0, 0),
  PROMPT_R1_ENGINE_QUANTIZE: z.enum(['none', '8', '4']).default('none'),
  PROMPT_R1_KV_CACHE_GB: z.coerce.number().positive().optional(),
  // the long-form sets' sentence embeddings: a model folder, a hub id, or 'hashed' (word overlap)
  PROMPT_R1_SIMILARITY_MODEL: z.string().min(1).default(PUBLISHED_EMBEDDER),
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

/** Where and how every model session of a worker runs: serving, evaluation, rollouts, training. */
export interface EngineSettings {
  provider: 'cpu' | 'cuda'
  deviceId: number
  /** intra-op threads; undefined: onnxruntime's choice (the machine's cores) */
  threads?: number
  /** weight-only quantization of served and evaluated agents (not of training) */
  quantize?: 8 | 4
  /** KV cache budget of each generator in bytes; undefined: a quarter of the machine's memory */
  maxCacheBytes?: number
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
  chatAgents: 'in-process' | 'workers'
  // a worker process's inference endpoint (served when `token` is set) and the edge's key to all of them
  // url unset: http://<HOST, or this machine's name when HOST listens on all interfaces>:<port>
  worker: { token?: string; port: number; url?: string; slots: number }
  queue: { leaseMs: number; heartbeatMs: number; maxAttempts: number; pollMs: number }
  limits: { maxBodyBytes: number; maxUploadBytes: number }
  downloadUrlSeconds: number
  // where clients reach this API (download links are built on it); unset: links are relative
  publicUrl?: string
  // absolute folders whose model folders jobs may name (shared/models.ts); default: <data dir>/models
  modelFolders: string[]
  // the longest an API request may take to start its answer (uploads excepted)
  requestTimeoutMs: number
  // the longest one chat completion may take, every turn and environment retry included
  chatTimeoutMs: number
  agent: {
    // the checkpoint served as `name` (a folder or hf:owner/name); undefined: only merged checkpoints
    source?: string
    name: string
  }
  engine: EngineSettings
  // the long-form sets' sentence-embedding model: a folder, a hub id, or 'hashed' (word overlap)
  similarityModel: string
  // the environment LLM for chat requests that name none
  environment?: { baseURL: string; model: string; apiKey: string }
  // may requests point the agent at loopback environments (this machine)?
  allowLoopbackEnvironment: boolean
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
  if (Boolean(e.PROMPT_R1_ENV_BASE_URL) !== Boolean(e.PROMPT_R1_ENV_MODEL)) {
    throw new ConfigError('invalid configuration:\n  PROMPT_R1_ENV_BASE_URL, PROMPT_R1_ENV_MODEL: set both or neither')
  }
  if (e.PROMPT_R1_CHAT_AGENTS === 'workers' && !e.PROMPT_R1_WORKER_TOKEN) {
    throw new ConfigError('invalid configuration:\n  PROMPT_R1_WORKER_TOKEN: needed when PROMPT_R1_CHAT_AGENTS=workers (the edge authenticates to the workers with it)')
  }
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
    chatAgents: e.PROMPT_R1_CHAT_AGENTS,
    worker: {
      token: e.PROMPT_R1_WORKER_TOKEN,
      port: e.PROMPT_R1_WORKER_PORT,
      url: e.PROMPT_R1_WORKER_URL?.replace(/\/+$/, ''),
      slots: e.PROMPT_R1_WORKER_SLOTS,
    },
    queue: {
      leaseMs: e.PROMPT_R1_LEASE_SECONDS * 1000,
      heartbeatMs: e.PROMPT_R1_HEARTBEAT_SECONDS * 1000,
      maxAttempts: e.PROMPT_R1_MAX_ATTEMPTS,
      pollMs: e.PROMPT_R1_POLL_MS,
    },
    limits: { maxBodyBytes: e.PROMPT_R1_MAX_BODY_BYTES, maxUploadBytes: e.PROMPT_R1_MAX_UPLOAD_BYTES },
    downloadUrlSeconds: e.PROMPT_R1_DOWNLOAD_URL_SECONDS,
    publicUrl: e.PROMPT_R1_PUBLIC_URL?.replace(/\/+$/, ''),
    modelFolders: (e.PROMPT_R1_MODEL_FOLDERS?.split(':') ?? [join(e.PROMPT_R1_DATA_DIR, 'models')]).filter(Boolean).map((folder) => resolve(folder)),
    requestTimeoutMs: e.PROMPT_R1_REQUEST_TIMEOUT_SECONDS * 1000,
    chatTimeoutMs: e.PROMPT_R1_CHAT_TIMEOUT_SECONDS * 1000,
    agent: {
      source: e.PROMPT_R1_AGENT_MODEL,
      name: e.PROMPT_R1_AGENT_NAME,
    },
    engine: {
      provider: e.PROMPT_R1_ENGINE_PROVIDER,
      deviceId: e.PROMPT_R1_ENGINE_DEVICE_ID,
      threads: e.PROMPT_R1_ENGINE_THREADS,
      quantize: e.PROMPT_R1_ENGINE_QUANTIZE === 'none' ? undefined : (Number(e.PROMPT_R1_ENGINE_QUANTIZE) as 8 | 4),
      maxCacheBytes: e.PROMPT_R1_KV_CACHE_GB === undefined ? undefined : e.PROMPT_R1_KV_CACHE_GB * 2 ** 30,
    },
    similarityModel: e.PROMPT_R1_SIMILARITY_MODEL,
    environment: e.PROMPT_R1_ENV_BASE_URL && e.PROMPT_R1_ENV_MODEL
      ? { baseURL: e.PROMPT_R1_ENV_BASE_URL, model: e.PROMPT_R1_ENV_MODEL, apiKey: e.PROMPT_R1_ENV_API_KEY ?? 'unused' }
      : undefined,
    // a server that only this machine can reach may let its users call this machine's LLMs
    allowLoopbackEnvironment: e.PROMPT_R1_ALLOW_LOOPBACK_ENVIRONMENT
      ? ['true', '1'].includes(e.PROMPT_R1_ALLOW_LOOPBACK_ENVIRONMENT)
      : ['127.0.0.1', 'localhost', '::1'].includes(e.HOST),
  }
}
