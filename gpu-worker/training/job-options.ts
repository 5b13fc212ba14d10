// A GRPO training job's stored config (shared/job-config.ts) as the trainer's options: the one
// place the API's hyperparameters meet GrpoOptions, for the train runner and the demo's recipe
// (gpu-worker/training/arithmetic-task.ts) alike.
import type { EngineSettings } from '../../shared/config.ts'
import type { TrainingJobConfig } from '../../shared/job-config.ts'
import { TRAINING_OPTIONS } from '../../shared/protocol/options.ts'
import { LORA_TARGETS, type LoraTarget } from '../engine/qwen3.ts'
import type { GrpoOptions } from './grpo.ts'
import { GRPO_LOSS_DEFAULTS } from './loss.ts'
import type { LoraOptions } from './model.ts'
import { ADAMW_DEFAULTS } from './optim.ts'

const DEFAULT_LORA: LoraOptions = { rank: 8, alpha: 16, targets: Object.keys(LORA_TARGETS) as LoraTarget[] }

export function grpoOptionsOf(config: TrainingJobConfig, engine: EngineSettings): GrpoOptions {
  if (config.method.type !== 'grpo') throw new Error(`the trainer runs GRPO jobs, not ${config.method.type}`)
  const hp = config.method.grpo.hyperparameters
  // lora_rank 0: full fine-tuning; otherwise adapters, each field defaulting to DEFAULT_LORA's
  const lora: LoraOptions | undefined = hp.lora_rank === 0 ? undefined : {
    rank: hp.lora_rank ?? DEFAULT_LORA.rank,
    alpha: hp.lora_alpha ?? DEFAULT_LORA.alpha,
    targets: hp.lora_targets ? ([...new Set(hp.lora_targets.split(','))] as LoraTarget[]) : DEFAULT_LORA.targets,
  }
  return {
    steps: hp.steps, groupSize: hp.group_size, promptsPerStep: hp.prompts_per_step, updatesPerStep: hp.updates_per_step,
    microBatchTokens: hp.micro_batch_tokens,
    loss: { ...GRPO_LOSS_DEFAULTS, klCoef: hp.kl_coef, clipLow: hp.clip_ratio, clipHigh: hp.clip_ratio, dualClip: hp.dual_clip },
    optimizer: { ...ADAMW_DEFAULTS, lr: hp.learning_rate, weightDecay: hp.weight_decay },
    aggregation: { kind: 'token-mean' }, scaleByStd: true,
    protocol: {
      ...TRAINING_OPTIONS, maxTurns: hp.max_turns, maxNewTokensPerTurn: hp.max_new_tokens_per_turn, maxContextTokens: hp.max_context_tokens,
      maxResponseTokens: hp.max_response_tokens, maxToolResponseLength: hp.max_tool_response_chars,
    },
    environmentErrorLimit: hp.environment_error_limit,
    lora, recompute: hp.recompute, seed: config.seed ?? 0, engine,
    checkpointEvery: hp.checkpoint_every, validationEvery: hp.validation_every,
  }
}
