// What a training job asks for, as the API accepts it and as it is stored in jobs.config.
// Workers parse the stored config with the same schema, so both sides agree on every default.
import { z } from 'zod'
import { BUILTIN_NAMES, PUBLISHED_NAMES, namedDataset } from '../datasets/named.ts'
import { BUILTIN_ENVIRONMENTS } from './protocol/builtin-environment.ts'
import { PROTOCOL_NAMES, PROTOCOLS, type ProtocolOptions } from './protocol/options.ts'

// The published Prompt-R1 recipe (PROTOCOL.md, "Training recipe").
export const grpoHyperparameters = z.strictObject({
  // 1 is allowed, as in verl: a lone episode's advantage is its reward (mean 0, std 1)
  group_size: z.number().int().min(1).max(64).default(5),
  prompts_per_step: z.number().int().min(1).max(4096).default(128),
  steps: z.number().int().min(1).max(1_000_000).default(100),
  learning_rate: z.number().positive().max(1).default(1e-6),
  // AdamW's decoupled weight decay (verl's default)
  weight_decay: z.number().min(0).max(1).default(0.01),
  kl_coef: z.number().min(0).max(10).default(0.001),
  clip_ratio: z.number().positive().max(1).default(0.2),
  dual_clip: z.number().min(1).default(3.0),
  updates_per_step: z.number().int().min(1).max(100).default(10),
  max_turns: z.number().int().min(1).max(32).default(5),
  // the published rollout limits (verl's max_new_tokens per turn, max_model_len, max_response_length, tool-response cut)
  max_new_tokens_per_turn: z.number().int().min(1).max(32_768).default(1024),
  max_context_tokens: z.number().int().min(16).max(131_072).default(8192),
  max_response_tokens: z.number().int().min(1).max(131_072).default(8192),
  max_tool_response_chars: z.number().int().min(0).max(1_000_000).default(2048),
  validation_every: z.number().int().min(1).default(10),
  checkpoint_every: z.number().int().min(1).default(10),
  // This project's trainer, not the published recipe; unset: LoRA rank 8, alpha 16 on every
  // projection, micro-batches of at most 8192 tokens. lora_rank 0: full fine-tuning.
  lora_rank: z.number().int().min(0).max(1024).optional(),
  lora_alpha: z.number().positive().max(1_000_000).optional(),
  // Comma-separated projections among q, k, v, o, gate, up, down (a string, as a form field sends it).
  lora_targets: z.string().regex(/^(q|k|v|o|gate|up|down)(,(q|k|v|o|gate|up|down))*$/, 'must be comma-separated projections among q, k, v, o, gate, up, down').optional(),
  // tokens per forward/backward run (rows x their longest, padding counted; as verl's dynamic batch
  // size): short episodes share a run, a longer one runs alone
  micro_batch_tokens: z.number().int().min(64).max(1_048_576).default(8192),
  // recompute each layer's activations in the backward pass: less memory, one more forward
  recompute: z.boolean().optional(),
  // the job fails (environment_unavailable) when more than this share of a step's environment
  // calls failed, and always when every one did: a step on failed calls learns nothing
  environment_error_limit: z.number().min(0).max(1).default(0.5),
})

// A job that does no work: it walks through the job states with events. Tests and health checks
// use it to exercise the whole queue and worker path.
export const noopMethod = z.strictObject({
  steps: z.number().int().min(0).max(1000).default(3),
  step_ms: z.number().int().min(0).max(60_000).default(50),
  // fail with a runner error when this step is reached
  fail_at_step: z.number().int().min(0).optional(),
  // keep the worker's thread busy (a synchronous loop) this long per step: checks that a busy
  // worker does not stall the API
  cpu_ms: z.number().int().min(0).max(60_000).default(0),
})

// a key travels as an HTTP header: printable ASCII only, and the message never repeats the value
export const environmentApiKey = z.string().max(4096).regex(/^[\x20-\x7e]*$/, 'must be printable ASCII (no line breaks or control characters)')

const id = z.string().regex(/^[A-Za-z0-9_-]{1,200}$/, 'is not a file id')

// The environment LLM a job calls (an evaluation's, or a training job's instead of the worker's):
// an OpenAI-compatible endpoint (base_url and model), or a built-in one by name, which needs no
// network (shared/protocol/builtin-environment.ts). The sampling and client settings apply to an endpoint.
export const environmentFields = z.strictObject({
  builtin: z.enum(BUILTIN_ENVIRONMENTS).optional(),
  base_url: z.string().min(1).max(2000).optional(),
  model: z.string().min(1).max(200).optional(),
  api_key: environmentApiKey.optional(),
  // sent with every environment call; none by default, so the provider's defaults apply (as published)
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  max_tokens: z.number().int().min(1).max(1_000_000).optional(),
  seed: z.number().int().optional(),
  timeout_ms: z.number().int().min(100).max(600_000).default(120_000),
  max_retries: z.number().int().min(0).max(10).default(4),
  concurrency: z.number().int().min(1).max(256).default(16),
  // the response cache: a rerun of the same evaluation costs nothing
  cache: z.boolean().default(true),
})

/** Where an environment is: a built-in one, or an endpoint with both its URL and its model. */
export function checkEnvironmentSource(environment: { builtin?: string; base_url?: string; model?: string }, ctx: z.RefinementCtx) {
  if (environment.builtin !== undefined) {
    for (const field of ['base_url', 'model'] as const) {
      if (environment[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: `give either builtin or ${field}, not both` })
    }
    return
  }
  for (const field of ['base_url', 'model'] as const) {
    if (environment[field] === undefined) {
      ctx.addIssue({ code: 'custom', path: [field], params: { missing: true }, message: `an environment needs base_url and model (an OpenAI-compatible endpoint), or builtin (${BUILTIN_ENVIRONMENTS.join(', ')})` })
    }
  }
}

export const evalEnvironment = environmentFields.superRefine(checkEnvironmentSource)

export const createTrainingJobBody = z.strictObject({
  model: z.string().min(1).max(500).optional(),
  // an uploaded file's id, a published set's name (PUBLISHED_DATASETS: train, validation, ...) or a
  // built-in set's (arithmetic: the demo's questions)
  training_file: id.optional(),
  validation_file: id.optional(),
  seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
  suffix: z.string().max(64).regex(/^[A-Za-z0-9._-]*$/, 'may hold only letters, digits, ".", "_" and "-"').optional(),
  metadata: z.record(z.string().max(64), z.string().max(512))
    .refine((m) => Object.keys(m).length <= 16, 'may have at most 16 keys').optional(),
  // the environment LLM of the rollouts; unset: the worker's (PROMPT_R1_ENV_*)
  environment: evalEnvironment.optional(),
  method: z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('grpo'), grpo: z.strictObject({ hyperparameters: grpoHyperparameters.default(grpoHyperparameters.parse({})) }).default({ hyperparameters: grpoHyperparameters.parse({}) }) }),
    z.strictObject({ type: z.literal('noop'), noop: noopMethod.default(noopMethod.parse({})) }),
  ]).default({ type: 'grpo', grpo: { hyperparameters: grpoHyperparameters.parse({}) } }),
}).superRefine((body, ctx) => {
  if (body.method.type !== 'grpo') return
  const hp = body.method.grpo.hyperparameters
  const path = (field: string) => ['method', 'grpo', 'hyperparameters', field]
  if (hp.updates_per_step > hp.prompts_per_step * hp.group_size) {
    ctx.addIssue({ code: 'custom', path: path('updates_per_step'), message: `must be at most prompts_per_step x group_size (${hp.prompts_per_step * hp.group_size} episodes per step)` })
  }
  if (hp.max_new_tokens_per_turn > hp.max_context_tokens) {
    ctx.addIssue({ code: 'custom', path: path('max_new_tokens_per_turn'), message: `must be at most max_context_tokens (${hp.max_context_tokens})` })
  }
})
  // the fields GRPO needs are reported beside the other fields' problems (`when`: zod runs a check
  // only on a valid body unless told), so reading the body as it came: method may be unparsed
  .superRefine((body, ctx) => {
    if (typeof body !== 'object' || body === null || (body as { method?: { type?: unknown } }).method?.type !== 'grpo') return
    const missing = { missing: true }
    if (!body.model) ctx.addIssue({ code: 'custom', path: ['model'], params: missing, message: 'GRPO training needs the base model to train' })
    if (!body.training_file) ctx.addIssue({ code: 'custom', path: ['training_file'], params: missing, message: 'GRPO training needs an uploaded dataset file id or a published set name (train, validation, ...)' })
  }, { when: () => true })

export type TrainingJobConfig = z.infer<typeof createTrainingJobBody>

// Each training step's episodes, one JSONL file per step in the blob store: the train runner writes
// them, the API reads them (docs/training.md, "Trajectories").
export const trajectoriesPrefix = (jobId: string) => `jobs/${jobId}/trajectories/`
export const trajectoryKey = (jobId: string, step: number) => `${trajectoriesPrefix(jobId)}step-${String(step).padStart(7, '0')}.jsonl`
/** The step a trajectory file holds, from its key; undefined for any other key. */
export const trajectoryStep = (key: string): number | undefined => {
  const match = /\/trajectories\/step-(\d+)\.jsonl$/.exec(key)
  return match ? Number(match[1]) : undefined
}

// --- evaluation jobs (docs/evaluation.md) ---

export const EVAL_MODES = ['direct', 'cot', 'agent'] as const
export const TASK_KINDS = ['qa', 'math', 'long-form'] as const

// A dataset to evaluate on: a published set by name (a bare string is short for {name}), an
// uploaded file, or a local path (the CLI only; the API refuses paths). `name` labels a file's
// column in the table; `kind` picks its metrics (math: math equivalence; long-form: similarity).
export const evalDatasetSpec = z.preprocess(
  (value) => (typeof value === 'string' ? { name: value } : value),
  z.strictObject({
    name: z.string().min(1).max(100).optional(),
    file_id: id.optional(),
    path: z.string().min(1).max(4096).optional(),
    kind: z.enum(TASK_KINDS).optional(),
  }),
)

export const evalAgent = z.strictObject({
  checkpoint: id.optional(),
  model: z.string().min(1).max(500).optional(),
  // the named protocol (docs/protocol.md); the settings below default to its own
  protocol: z.enum(PROTOCOL_NAMES).default('training'),
  temperature: z.number().min(0).max(5).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  top_k: z.number().int().min(0).default(0),
  seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
  max_turns: z.number().int().min(1).max(32).optional(),
  max_new_tokens_per_turn: z.number().int().min(1).max(8192).optional(),
}).superRefine((agent, ctx) => {
  if ((agent.checkpoint === undefined) === (agent.model === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['checkpoint'], message: 'give exactly one of agent.checkpoint (a checkpoint id) and agent.model (a model folder or hf:owner/name)' })
  }
})

export const createEvaluationBody = z.strictObject({
  datasets: z.array(evalDatasetSpec).min(1).max(64),
  environment: evalEnvironment,
  agent: evalAgent.optional(),
  modes: z.array(z.enum(EVAL_MODES)).min(1).max(3)
    .refine((modes) => new Set(modes).size === modes.length, 'must not repeat a mode')
    .default(['direct', 'cot', 'agent']),
  // the first max_rows rows of each dataset
  max_rows: z.number().int().min(1).max(1_000_000).optional(),
  // rows run (and stored) together; a resumed job redoes at most one batch per mode
  batch_size: z.number().int().min(1).max(256).default(8),
  bootstrap_resamples: z.number().int().min(100).max(100_000).default(1000),
  // the job fails (environment_unavailable) when more than this share of its rows' environment
  // calls failed; with 1, only when every one did (a partly failed run succeeds with a warning)
  environment_error_limit: z.number().min(0).max(1).default(1),
  metadata: z.record(z.string().max(64), z.string().max(512))
    .refine((m) => Object.keys(m).length <= 16, 'may have at most 16 keys').optional(),
}).superRefine((body, ctx) => {
  if (body.modes.includes('agent') && !body.agent) {
    ctx.addIssue({ code: 'custom', path: ['agent'], params: { missing: true }, message: "the 'agent' mode needs the agent to evaluate" })
  }
  body.datasets.forEach((dataset, i) => {
    const sources = [dataset.file_id, dataset.path].filter((s) => s !== undefined).length
    if (sources > 1) ctx.addIssue({ code: 'custom', path: ['datasets', i, 'path'], message: 'give a file_id or a path, not both' })
    if (sources === 0 && !namedDataset(dataset.name ?? '')) {
      const what = dataset.name === undefined ? 'give a published dataset name, a file_id or a path' : `'${dataset.name}' is not a published or built-in dataset`
      ctx.addIssue({ code: 'custom', path: ['datasets', i, 'name'], message: `${what} (published: ${PUBLISHED_NAMES.join(', ')}; built in: ${BUILTIN_NAMES.join(', ')}; for your own data upload a file and give its file_id)` })
    }
  })
  const labels = body.datasets.map((d) => d.name ?? d.file_id ?? d.path)
  if (new Set(labels).size !== labels.length) ctx.addIssue({ code: 'custom', path: ['datasets'], message: 'names a dataset twice; give each a distinct name' })
})

export type EvaluationConfig = z.infer<typeof createEvaluationBody>

/** An evaluated agent's protocol and sampling: its named protocol's, with what the job set. */
export function evalAgentSettings(agent: NonNullable<EvaluationConfig['agent']>): { options: ProtocolOptions; temperature: number; topP: number } {
  const { options, sampling } = PROTOCOLS[agent.protocol]
  return {
    options: { ...options, maxTurns: agent.max_turns ?? options.maxTurns, maxNewTokensPerTurn: agent.max_new_tokens_per_turn ?? options.maxNewTokensPerTurn },
    temperature: agent.temperature ?? sampling.temperature,
    topP: agent.top_p ?? sampling.topP,
  }
}
