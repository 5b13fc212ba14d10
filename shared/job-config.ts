// What a training job asks for, as the API accepts it and as it is stored in jobs.config.
// Workers parse the stored config with the same schema, so both sides agree on every default.
import { z } from 'zod'

// The published Prompt-R1 recipe (PROTOCOL.md, "Training recipe").
export const grpoHyperparameters = z.strictObject({
  group_size: z.number().int().min(2).max(64).default(5),
  prompts_per_step: z.number().int().min(1).max(4096).default(128),
  steps: z.number().int().min(1).max(1_000_000).default(100),
  learning_rate: z.number().positive().max(1).default(1e-6),
  kl_coef: z.number().min(0).max(10).default(0.001),
  clip_ratio: z.number().positive().max(1).default(0.2),
  dual_clip: z.number().min(1).default(3.0),
  updates_per_step: z.number().int().min(1).max(100).default(10),
  max_turns: z.number().int().min(1).max(32).default(5),
  validation_every: z.number().int().min(1).default(10),
  checkpoint_every: z.number().int().min(1).default(10),
})

// A job that does no work: it walks through the job states with events. Tests and health checks
// use it to exercise the whole queue and worker path.
export const noopMethod = z.strictObject({
  steps: z.number().int().min(0).max(1000).default(3),
  step_ms: z.number().int().min(0).max(60_000).default(50),
  // fail with a runner error when this step is reached
  fail_at_step: z.number().int().min(0).optional(),
})

const id = z.string().regex(/^[A-Za-z0-9_-]{1,200}$/, 'is not a file id')

export const createTrainingJobBody = z.strictObject({
  model: z.string().min(1).max(500).optional(),
  training_file: id.optional(),
  validation_file: id.optional(),
  seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
  suffix: z.string().max(64).regex(/^[A-Za-z0-9._-]*$/, 'may hold only letters, digits, ".", "_" and "-"').optional(),
  metadata: z.record(z.string().max(64), z.string().max(512))
    .refine((m) => Object.keys(m).length <= 16, 'may have at most 16 keys').optional(),
  method: z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('grpo'), grpo: z.strictObject({ hyperparameters: grpoHyperparameters.default(grpoHyperparameters.parse({})) }).default({ hyperparameters: grpoHyperparameters.parse({}) }) }),
    z.strictObject({ type: z.literal('noop'), noop: noopMethod.default(noopMethod.parse({})) }),
  ]).default({ type: 'grpo', grpo: { hyperparameters: grpoHyperparameters.parse({}) } }),
}).superRefine((body, ctx) => {
  if (body.method.type !== 'grpo') return
  const missing = { missing: true }
  if (!body.model) ctx.addIssue({ code: 'custom', path: ['model'], params: missing, message: 'GRPO training needs the base model to train' })
  if (!body.training_file) ctx.addIssue({ code: 'custom', path: ['training_file'], params: missing, message: 'GRPO training needs an uploaded dataset file id' })
})

export type TrainingJobConfig = z.infer<typeof createTrainingJobBody>
