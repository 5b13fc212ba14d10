// The database schema: Postgres is the one source of truth for jobs, leases, events,
// checkpoints, runs, files and API keys. Migrations are generated from this file by drizzle-kit.
import { sql } from 'drizzle-orm'
import {
  bigint, boolean, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex,
} from 'drizzle-orm/pg-core'

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow()

export const JOB_KINDS = ['train', 'eval', 'noop'] as const
export type JobKind = (typeof JOB_KINDS)[number]

// OpenAI's fine-tuning vocabulary plus `cancelling`: a cancel was asked for and the worker
// holding the lease has not yet seen it.
export const JOB_STATUSES = [
  'validating_files', 'queued', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled',
] as const
export type JobStatus = (typeof JOB_STATUSES)[number]
export const FINISHED_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled']

export interface ApiErrorBody { code: string; message: string; param: string | null }

/** What a running job is doing now, as its runner last reported it (gpu-worker/worker.ts). */
export const JOB_PHASES = ['loading', 'warm-start', 'rollout', 'update', 'validation', 'checkpoint', 'evaluating', 'steps'] as const
export interface JobProgress {
  phase: (typeof JOB_PHASES)[number]
  /** the training step this phase belongs to (1-based) and the job's steps */
  step: number | null
  steps: number | null
  /** how far the phase is: episodes played, mini-batches, rows scored... */
  done: number | null
  total: number | null
  /** when the phase began (ISO time) */
  since: string
}

export const apiKeys = pgTable('api_keys', {
  id: text('id').primaryKey(),
  projectId: text('project_id').notNull(),
  name: text('name').notNull(),
  // sha256 of the whole secret; the secret itself is shown once and never stored
  secretHash: text('secret_hash').notNull(),
  prefix: text('prefix').notNull(),
  // an admin key manages its own project's keys; a superuser key (the operator's) every project's
  isAdmin: boolean('is_admin').notNull().default(false),
  isSuperuser: boolean('is_superuser').notNull().default(false),
  createdAt: createdAt(),
  revokedAt: timestamp('revoked_at', { withTimezone: true }),
}, (t) => [uniqueIndex('api_keys_secret_hash').on(t.secretHash)])

export const jobs = pgTable('jobs', {
  id: text('id').primaryKey(),
  projectId: text('project_id').notNull(),
  kind: text('kind').$type<JobKind>().notNull(),
  status: text('status').$type<JobStatus>().notNull(),
  config: jsonb('config').$type<Record<string, unknown>>().notNull(),
  error: jsonb('error').$type<ApiErrorBody>(),
  result: jsonb('result').$type<Record<string, unknown>>(),
  // while it runs; null once it has finished
  progress: jsonb('progress').$type<JobProgress>(),
  // 1-based number of the current (or next) attempt; a lost lease moves the job to the next one
  attempt: integer('attempt').notNull().default(1),
  maxAttempts: integer('max_attempts').notNull().default(3),
  leaseOwner: text('lease_owner'),
  leaseExpiresAt: timestamp('lease_expires_at', { withTimezone: true }),
  heartbeatAt: timestamp('heartbeat_at', { withTimezone: true }),
  // last sequence number given to one of this job's events (the row lock orders them)
  eventSeq: bigint('event_seq', { mode: 'number' }).notNull().default(0),
  createdAt: createdAt(),
  startedAt: timestamp('started_at', { withTimezone: true }),
  finishedAt: timestamp('finished_at', { withTimezone: true }),
}, (t) => [
  index('jobs_project_created').on(t.projectId, t.createdAt, t.id),
  index('jobs_queue').on(t.status, t.createdAt).where(sql`status = 'queued'`),
  index('jobs_leases').on(t.leaseExpiresAt).where(sql`status in ('running', 'cancelling')`),
])

export const jobEvents = pgTable('job_events', {
  jobId: text('job_id').notNull().references(() => jobs.id, { onDelete: 'cascade' }),
  seq: bigint('seq', { mode: 'number' }).notNull(),
  level: text('level').$type<'info' | 'warn' | 'error'>().notNull(),
  type: text('type').$type<'message' | 'metrics'>().notNull(),
  message: text('message').notNull(),
  data: jsonb('data').$type<Record<string, unknown>>(),
  createdAt: createdAt(),
}, (t) => [primaryKey({ columns: [t.jobId, t.seq] })])

export interface CheckpointFile { path: string; blobKey: string; bytes: number; sha256: string }

export const checkpoints = pgTable('checkpoints', {
  id: text('id').primaryKey(),
  projectId: text('project_id').notNull(),
  jobId: text('job_id').notNull().references(() => jobs.id, { onDelete: 'cascade' }),
  step: integer('step').notNull(),
  kind: text('kind').$type<'adapter' | 'full' | 'merged'>().notNull(),
  // the downloadable file sets by format ('merged', 'adapter', 'gguf')
  files: jsonb('files').$type<Record<string, CheckpointFile[]>>().notNull(),
  // a merged checkpoint's name as a chat model, OpenAI's form: ft:<base>:<project>[:<suffix>]:<id>
  modelName: text('model_name'),
  metrics: jsonb('metrics').$type<Record<string, number>>(),
  createdAt: createdAt(),
}, (t) => [index('checkpoints_job').on(t.jobId, t.step), index('checkpoints_project_created').on(t.projectId, t.createdAt, t.id)])

export const files = pgTable('files', {
  id: text('id').primaryKey(),
  projectId: text('project_id').notNull(),
  filename: text('filename').notNull(),
  purpose: text('purpose').notNull(),
  blobKey: text('blob_key').notNull(),
  bytes: bigint('bytes', { mode: 'number' }).notNull(),
  sha256: text('sha256').notNull(),
  format: text('format').$type<'jsonl' | 'parquet'>().notNull(),
  rowCount: integer('row_count').notNull(),
  validation: jsonb('validation').$type<Record<string, unknown>>().notNull(),
  createdAt: createdAt(),
}, (t) => [index('files_project_created').on(t.projectId, t.createdAt, t.id)])

export const runs = pgTable('runs', {
  id: text('id').primaryKey(),
  projectId: text('project_id').notNull(),
  model: text('model').notNull(),
  question: text('question').notNull(),
  answer: text('answer'),
  trajectory: jsonb('trajectory').$type<unknown[]>().notNull(),
  usage: jsonb('usage').$type<Record<string, number>>().notNull(),
  timings: jsonb('timings').$type<Record<string, number>>().notNull(),
  createdAt: createdAt(),
}, (t) => [index('runs_project_created').on(t.projectId, t.createdAt)])

// A worker process: the job kinds it leases and, when it serves chat, where the edge reaches it.
// `inference_seen_at` is kept fresh by the inference server's own heartbeat (a long training job
// holds the job loop, not the server), and is cleared when the server stops.
/**
 * Whether a worker reaches the Hugging Face hub (HF_ENDPOINT; null until its first probe has
 * answered) and the hub models in its cache (owner/name, or owner/name@revision), which it loads
 * without the hub.
 */
export interface HubAccess { reachable: boolean | null; cached: string[] }

export const workers = pgTable('workers', {
  id: text('id').primaryKey(),
  hostname: text('hostname').notNull(),
  kinds: jsonb('kinds').$type<string[]>().notNull(),
  startedAt: createdAt(),
  lastSeenAt: timestamp('last_seen_at', { withTimezone: true }).notNull().defaultNow(),
  // the base URL of its inference endpoint; null: it serves no chat
  address: text('address'),
  // the agents it serves by name, and the merged checkpoints it has loaded
  models: jsonb('models').$type<string[]>().notNull().default([]),
  slots: integer('slots').notNull().default(0),
  freeSlots: integer('free_slots').notNull().default(0),
  provider: text('provider'),
  inferenceSeenAt: timestamp('inference_seen_at', { withTimezone: true }),
  // what a job worker can load from the Hugging Face hub, kept by its heartbeat; null: not said
  hub: jsonb('hub').$type<HubAccess>(),
})
