// The API's OpenAPI 3.1 description, generated from the schemas the routes parse their requests with
// (shared/job-config.ts, each route module's query and body schemas) and from the response schemas
// below, one per object the API answers with. Served at /openapi.json and read by /docs;
// test/platform/openapi.test.ts checks real responses of every route against it.
import { z } from 'zod'
import { createEvaluationBody, createTrainingJobBody, evalAgent, evalDatasetSpec, environmentFields } from '../shared/job-config.ts'
import { JOB_KINDS, JOB_PHASES, JOB_STATUSES } from '../shared/db/schema.ts'
import { EVAL_MODES } from '../shared/job-config.ts'
import { createApiKeyBody } from './routes/api-keys.ts'
import { chatBody } from './routes/chat.ts'
import { archiveQuery, downloadQuery } from './routes/checkpoints.ts'
import { pageQuery } from './routes/common.ts'
import { EVALUATIONS, resultsQuery } from './routes/evaluations.ts'
import { uploadFields } from './routes/files.ts'
import { eventsQueryOf } from './routes/jobs.ts'
import { TRAINING_JOBS, trajectoriesQuery } from './routes/training-jobs.ts'

// --- the objects the API answers with ---

const unixTime = z.number().int().describe('unix seconds')
const errorDetail = z.strictObject({ code: z.string(), message: z.string(), param: z.string().nullable() })
const list = <T extends z.ZodType>(item: T) => z.strictObject({ object: z.literal('list'), data: z.array(item), has_more: z.boolean() })
const openRecord = z.record(z.string(), z.unknown())
const jobProgress = z.strictObject({
  phase: z.enum(JOB_PHASES), step: z.number().int().nullable().describe('the training step it belongs to'), steps: z.number().int().nullable(),
  done: z.number().int().nullable().describe('episodes played, mini-batches done, rows scored...'), total: z.number().int().nullable(), phase_started_at: unixTime,
}).nullable().describe('what the running job is doing now; null when it is not running')

export const responses = {
  Error: z.strictObject({
    error: errorDetail.extend({ details: z.array(errorDetail).optional().describe('every problem of the request, this one first') }),
  }),
  Health: z.strictObject({
    status: z.enum(['ok', 'unavailable']), version: z.string(), database: z.enum(['pglite', 'postgres']), blob_store: z.enum(['local', 's3']),
    checks: z.strictObject({ database: z.string(), blob_store: z.string() }),
  }),
  ApiKey: z.strictObject({
    id: z.string(), object: z.literal('api_key'), name: z.string(), project_id: z.string(), prefix: z.string(),
    admin: z.boolean(), superuser: z.boolean(), created_at: unixTime, revoked_at: unixTime.nullable(),
    secret: z.string().optional().describe('only in the answer that made the key'),
    deleted: z.literal(true).optional().describe('only in the answer that revoked it'),
  }),
  File: z.strictObject({
    id: z.string(), object: z.literal('file'), filename: z.string(), purpose: z.string(), bytes: z.number().int(), sha256: z.string(),
    format: z.enum(['jsonl', 'parquet']), row_count: z.number().int(), status: z.literal('processed'), validation: openRecord, created_at: unixTime,
  }),
  TrainingJob: z.strictObject({
    id: z.string(), object: z.literal('fine_tuning.job'), kind: z.enum(JOB_KINDS), model: z.string().nullable(), status: z.enum(JOB_STATUSES), progress: jobProgress,
    created_at: unixTime, started_at: unixTime.nullable(), finished_at: unixTime.nullable(),
    training_file: z.string().nullable(), validation_file: z.string().nullable(),
    method: createTrainingJobBody.shape.method.unwrap().nullable(), seed: z.number().int().nullable(),
    environment: environmentFields.omit({ api_key: true }).extend({ api_key_set: z.boolean() }).nullable(),
    suffix: z.string().nullable(), metadata: z.record(z.string(), z.string()).nullable(), error: errorDetail.nullable(),
    fine_tuned_model: z.string().nullable().describe('the merged model\'s name for chat: ft:<base>:<project>[:<suffix>]:<checkpoint id>'),
    result: openRecord.nullable(), attempt: z.number().int(), max_attempts: z.number().int(), organization_id: z.string(),
  }),
  Evaluation: z.strictObject({
    id: z.string(), object: z.literal('evaluation'), status: z.enum(JOB_STATUSES), progress: jobProgress,
    created_at: unixTime, started_at: unixTime.nullable(), finished_at: unixTime.nullable(),
    datasets: z.array(evalDatasetSpec), modes: z.array(z.enum(EVAL_MODES)),
    environment: environmentFields.omit({ api_key: true }).extend({ api_key_set: z.boolean() }),
    agent: evalAgent.nullable(), max_rows: z.number().int().nullable(), batch_size: z.number().int(), bootstrap_resamples: z.number().int(),
    metadata: z.record(z.string(), z.string()).nullable(), error: errorDetail.nullable(), result: openRecord.nullable(),
    attempt: z.number().int(), max_attempts: z.number().int(), organization_id: z.string(),
  }),
  JobEvent: z.strictObject({
    id: z.string(), object: z.enum([TRAINING_JOBS.eventObject, EVALUATIONS.eventObject]), seq: z.number().int(), created_at: unixTime,
    level: z.enum(['info', 'warn', 'error']), type: z.enum(['message', 'metrics']), message: z.string(), data: openRecord.nullable(),
  }),
  Checkpoint: z.strictObject({
    id: z.string(), object: z.literal('fine_tuning.job.checkpoint'), fine_tuning_job_id: z.string(), fine_tuned_model: z.string().nullable(),
    step_number: z.number().int(), kind: z.enum(['adapter', 'full', 'merged']), formats: z.array(z.string()),
    metrics: z.record(z.string(), z.number()), created_at: unixTime,
  }),
  CheckpointDownload: z.strictObject({
    object: z.literal('checkpoint.download'), checkpoint_id: z.string(), format: z.enum(['merged', 'adapter', 'gguf']), expires_at: unixTime.nullable(),
    files: z.array(z.strictObject({ path: z.string(), bytes: z.number().int(), sha256: z.string(), url: z.string() })),
    archive: z.strictObject({ url: z.string().describe('signed: needs no key until expires_at'), filename: z.string(), bytes: z.number().int(), expires_at: unixTime }),
  }),
  TrainingEstimate: z.strictObject({
    object: z.literal('fine_tuning.job.estimate'), episodes: z.number().int(), episodes_per_step: z.number().int(),
    epochs: z.number().nullable().describe('passes over the training rows'), training_rows: z.number().int().nullable(), validation_episodes: z.number().int(),
    agent_turns_max: z.number().int(), environment_calls_max: z.number().int(), sampled_tokens_max: z.number().int(),
    time: z.strictObject({ seconds: z.number().int().nullable(), basis: z.string().describe('what the time was scaled from, or why there is none') }),
  }),
  TrajectoryStep: z.strictObject({ object: z.literal('fine_tuning.job.trajectory_step'), step: z.number().int() }),
  Trajectory: z.strictObject({
    object: z.literal('fine_tuning.job.trajectory'), step: z.number().int(), index: z.number().int(), group: z.number().int(),
    data_source: z.string(), row: z.number().int(), question: z.string(), golds: z.array(z.string()), answer: z.string(),
    reward: z.number(), format_score: z.number(), answer_f1: z.number(), advantage: z.number(), end_reason: z.string(),
    environment_calls: z.number().int(), environment_prompt_tokens: z.number().int(), environment_completion_tokens: z.number().int(),
    turns: z.array(z.strictObject({
      kind: z.enum(['answer', 'call', 'invalid-call']), text: z.string(), think: z.string(), sampled_tokens: z.number().int(),
      answer: z.string().nullable(), prompt: z.string().nullable(), environment_answer: z.string().nullable(), error: z.string().nullable(),
      tool_content: z.string().nullable(), environment_usage: z.strictObject({ prompt_tokens: z.number().int(), completion_tokens: z.number().int() }).nullable(),
      environment_latency_ms: z.number().nullable(),
    })),
  }),
  EvaluationResults: z.strictObject({
    object: z.literal('evaluation.results'), evaluation_id: z.string(), status: z.enum(JOB_STATUSES),
    partial: z.boolean().describe('true while the job runs: a summary of the rows so far'),
    summary: z.looseObject({ object: z.literal('evaluation.summary'), rows_scored: z.number().int(), modes: z.array(z.enum(EVAL_MODES)), datasets: z.array(openRecord), averages: z.array(openRecord), similarity_embedder: z.string() }),
    table_markdown: z.string(),
  }),
  Models: z.strictObject({
    object: z.literal('list'),
    data: z.array(z.strictObject({ id: z.string(), object: z.literal('model'), created: unixTime, owned_by: z.string() })),
  }),
  ChatCompletion: z.strictObject({
    id: z.string(), object: z.literal('chat.completion'), created: unixTime, model: z.string(),
    choices: z.array(z.strictObject({ index: z.number().int(), message: z.strictObject({ role: z.literal('assistant'), content: z.string() }), finish_reason: z.literal('stop') })),
    usage: z.strictObject({
      prompt_tokens: z.number().int(), completion_tokens: z.number().int(), total_tokens: z.number().int(),
      environment: z.strictObject({ prompt_tokens: z.number().int(), completion_tokens: z.number().int(), total_tokens: z.number().int() }),
    }),
    turns: z.array(z.strictObject({
      think: z.string(), prompt: z.string().nullable(), environment_answer: z.string().nullable(), answer: z.string().nullable(),
      error: z.string().nullable(), environment_latency_ms: z.number().int().nullable(),
    })),
    end_reason: z.string(),
  }),
}
export type ResponseName = keyof typeof responses

const lists = {
  ApiKeyList: list(responses.ApiKey), FileList: list(responses.File), TrainingJobList: list(responses.TrainingJob), EvaluationList: list(responses.Evaluation),
  JobEventList: list(responses.JobEvent), CheckpointList: list(responses.Checkpoint), TrajectoryStepList: list(responses.TrajectoryStep), TrajectoryList: list(responses.Trajectory),
}
const components = { ...responses, ...lists }
type ComponentName = keyof typeof components

// --- the operations ---

type Content = { component: ComponentName } | { type: string; description: string }
interface Operation {
  method: 'get' | 'post' | 'delete'
  /** in OpenAPI's form: /v1/files/{id} */
  path: string
  tag: string
  summary: string
  /** no API key (the health check, this description) */
  open?: boolean
  query?: z.ZodObject
  body?: { schema: z.ZodType; type?: 'application/json' | 'multipart/form-data' }
  /** the success status and what it carries; errors are the Error object */
  ok: { status: number; content: Content[] }
  /** statuses that carry something other than the Error object */
  otherwise?: Record<number, Content[]>
}

const json = (component: ComponentName): Content[] => [{ component }]
const jobOperations = (base: string, tag: string, noun: string, job: ComponentName, eventsQuery: z.ZodObject): Operation[] => [
  { method: 'get', path: base, tag, summary: `List ${noun}s, newest first`, query: pageQuery, ok: { status: 200, content: json(job === 'TrainingJob' ? 'TrainingJobList' : 'EvaluationList') } },
  { method: 'get', path: `${base}/{id}`, tag, summary: `Get a ${noun}`, ok: { status: 200, content: json(job) } },
  { method: 'post', path: `${base}/{id}/cancel`, tag, summary: `Cancel a ${noun} (queued: at once; running: at its worker's next heartbeat)`, ok: { status: 200, content: json(job) } },
  { method: 'get', path: `${base}/{id}/events`, tag, summary: `The ${noun}'s events, oldest first`, query: eventsQuery, ok: { status: 200, content: json('JobEventList') } },
]

export const OPERATIONS: Operation[] = [
  { method: 'get', path: '/health', tag: 'Platform', summary: 'The database and the blob store, each checked (503 with Retry-After when one fails)', open: true, ok: { status: 200, content: json('Health') }, otherwise: { 503: json('Health') } },
  { method: 'get', path: '/openapi.json', tag: 'Platform', summary: 'This description', open: true, ok: { status: 200, content: [{ type: 'application/json', description: 'an OpenAPI 3.1 document' }] } },
  { method: 'post', path: '/v1/api_keys', tag: 'API keys', summary: 'Make a key (admin keys; another project\'s: superuser keys); its secret is shown once', body: { schema: createApiKeyBody }, ok: { status: 201, content: json('ApiKey') } },
  { method: 'get', path: '/v1/api_keys', tag: 'API keys', summary: 'The project\'s keys (a superuser\'s: every project\'s)', ok: { status: 200, content: json('ApiKeyList') } },
  { method: 'delete', path: '/v1/api_keys/{id}', tag: 'API keys', summary: 'Revoke a key', ok: { status: 200, content: json('ApiKey') } },
  { method: 'post', path: '/v1/files', tag: 'Files', summary: 'Upload a dataset (JSONL or verl parquet), validated row by row as it arrives', body: { schema: uploadFields.extend({ file: z.string().describe('the file (binary)') }), type: 'multipart/form-data' }, ok: { status: 201, content: json('File') } },
  { method: 'get', path: '/v1/files', tag: 'Files', summary: 'List the project\'s files, newest first', query: pageQuery, ok: { status: 200, content: json('FileList') } },
  { method: 'get', path: '/v1/files/{id}', tag: 'Files', summary: 'Get a file', ok: { status: 200, content: json('File') } },
  { method: 'post', path: '/v1/training/jobs', tag: 'Training', summary: 'Create a GRPO training job (or a noop job that checks the queue)', body: { schema: createTrainingJobBody }, ok: { status: 201, content: json('TrainingJob') } },
  { method: 'post', path: '/v1/training/jobs/estimate', tag: 'Training', summary: 'What a job would cost (episodes, environment calls, sampled tokens, time from the project\'s last job of the model), with the same checks as creating it; nothing is created', body: { schema: createTrainingJobBody }, ok: { status: 200, content: json('TrainingEstimate') } },
  ...jobOperations('/v1/training/jobs', 'Training', 'training job', 'TrainingJob', eventsQueryOf(TRAINING_JOBS)),
  { method: 'get', path: '/v1/training/jobs/{id}/checkpoints', tag: 'Training', summary: 'The job\'s checkpoints, latest step first', query: pageQuery, ok: { status: 200, content: json('CheckpointList') } },
  { method: 'get', path: '/v1/training/jobs/{id}/trajectories/steps', tag: 'Training', summary: 'The steps whose episodes are stored', ok: { status: 200, content: json('TrajectoryStepList') } },
  { method: 'get', path: '/v1/training/jobs/{id}/trajectories', tag: 'Training', summary: 'Every episode of one step, in the order played', query: trajectoriesQuery, ok: { status: 200, content: json('TrajectoryList') } },
  { method: 'post', path: '/v1/evaluations', tag: 'Evaluations', summary: 'Evaluate the environment alone, with chain of thought, and with an agent, on published or uploaded sets', body: { schema: createEvaluationBody }, ok: { status: 201, content: json('Evaluation') } },
  ...jobOperations('/v1/evaluations', 'Evaluations', 'evaluation', 'Evaluation', eventsQueryOf(EVALUATIONS)),
  {
    method: 'get', path: '/v1/evaluations/{id}/results', tag: 'Evaluations', summary: 'The scores so far or final: the summary and table, or every scored row', query: resultsQuery,
    ok: { status: 200, content: [{ component: 'EvaluationResults' }, { type: 'application/x-ndjson', description: 'format=jsonl: every scored row' }, { type: 'text/csv', description: 'format=csv: every scored row' }, { type: 'text/markdown', description: 'format=markdown: the table' }] },
  },
  { method: 'get', path: '/v1/checkpoints', tag: 'Checkpoints', summary: 'The project\'s checkpoints of every job, newest first', query: pageQuery, ok: { status: 200, content: json('CheckpointList') } },
  { method: 'get', path: '/v1/checkpoints/{id}', tag: 'Checkpoints', summary: 'Get a checkpoint', ok: { status: 200, content: json('Checkpoint') } },
  { method: 'get', path: '/v1/checkpoints/{id}/download', tag: 'Checkpoints', summary: 'Links to a checkpoint\'s files, and a signed link to all of them as one tar', query: downloadQuery, ok: { status: 200, content: json('CheckpointDownload') } },
  { method: 'get', path: '/v1/checkpoints/{id}/archive', tag: 'Checkpoints', summary: 'Every file of one format as one tar, streamed (by key, or by the signed link /download gives)', query: archiveQuery, ok: { status: 200, content: [{ type: 'application/x-tar', description: 'a POSIX tar of <checkpoint id>-<format>/...' }] } },
  { method: 'get', path: '/v1/checkpoints/{id}/files/{format}/{path}', tag: 'Checkpoints', summary: 'One file of a checkpoint, streamed from the blob store', ok: { status: 200, content: [{ type: 'application/octet-stream', description: 'the file' }] } },
  { method: 'get', path: '/v1/models', tag: 'Chat', summary: 'The served agents, then the project\'s merged checkpoints by their fine-tuned names', ok: { status: 200, content: json('Models') } },
  {
    method: 'post', path: '/v1/chat/completions', tag: 'Chat', summary: 'Ask the agent: it talks to the environment LLM over several turns and answers (OpenAI-compatible; stream: true sends every turn)', body: { schema: chatBody },
    ok: { status: 200, content: [{ component: 'ChatCompletion' }, { type: 'text/event-stream', description: 'stream: true: chat.completion.chunk events, each step of the episode in the chunk\'s prompt_r1 field, then [DONE]' }] },
  },
]

// --- the document ---

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>
  return rest
}

const ERROR_STATUSES: Record<string, string> = {
  400: 'Bad input: every problem in error.details', 401: 'No key, or a bad, revoked key or link', 403: 'The key may not do this',
  404: 'No such object in the caller\'s project', 409: 'Not in a state that allows it', 413: 'Too large', 415: 'Not JSON (or not multipart for uploads)',
  429: 'Every worker is busy (Retry-After)', 502: 'A worker failed mid-answer', 503: 'A service below the API failed, or no worker is live (Retry-After)', 504: 'Past the deadline',
}

function contentOf(content: Content[]) {
  return Object.fromEntries(content.map((c) => ('component' in c
    ? ['application/json', { schema: { $ref: `#/components/schemas/${c.component}` } }]
    : [c.type, { schema: c.type === 'application/json' ? { type: 'object' } : c.type.startsWith('text/') || c.type.endsWith('ndjson') ? { type: 'string' } : { type: 'string', contentMediaType: c.type }, description: c.description }])))
}

export function openApiDocument(version: string) {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const op of OPERATIONS) {
    const pathParameters = [...op.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({ name, in: 'path', required: true, schema: { type: 'string' } }))
    const queryParameters = op.query ? Object.entries(op.query.shape).map(([name, schema]) => ({
      name, in: 'query', required: !(schema as z.ZodType).safeParse(undefined).success, schema: jsonSchema(schema as z.ZodType, 'input'),
    })) : []
    paths[op.path] ??= {}
    paths[op.path][op.method] = {
      operationId: `${op.method}${op.path.replace(/\{(\w+)\}/g, 'By_$1').replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? '').toUpperCase())}`,
      tags: [op.tag], summary: op.summary,
      ...(op.open ? { security: [] } : {}),
      ...(pathParameters.length || queryParameters.length ? { parameters: [...pathParameters, ...queryParameters] } : {}),
      ...(op.body ? { requestBody: { required: true, content: { [op.body.type ?? 'application/json']: { schema: jsonSchema(op.body.schema, 'input') } } } } : {}),
      responses: {
        [op.ok.status]: { description: 'OK', content: contentOf(op.ok.content) },
        ...Object.fromEntries(Object.entries(ERROR_STATUSES).map(([status, description]) => [status, { description, content: contentOf(op.otherwise?.[Number(status)] ?? [{ component: 'Error' }]) }])),
      },
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Prompt-R1 platform API', version,
      description: 'Serve and train Prompt-R1 agents: an OpenAI-compatible chat endpoint that streams every turn, GRPO training and evaluation jobs, datasets and checkpoints. Every /v1 route takes `Authorization: Bearer <API key>`.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    servers: [{ url: '/' }],
    security: [{ apiKey: [] }],
    paths,
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'an API key (pr1-...)' } },
      schemas: Object.fromEntries(Object.entries(components).map(([name, schema]) => [name, jsonSchema(schema, 'output')])),
    },
  }
}
