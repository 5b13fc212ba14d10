// The GRPO loop (PROTOCOL.md, "Training recipe"): each step draws prompts, plays n episodes per
// prompt with the engine and the protocol's episode runner, scores them, computes group-relative
// advantages, records old and reference logprobs with the training graph, and applies several
// optimizer updates over mini-batches. The rollout engine reads the policy's parameters where the
// optimizer updates them (LoRA factors, or every weight), so each step samples from the current
// policy with nothing exported or rebuilt. Every random draw of step k is seeded from (seed, k), so
// a run resumed from a checkpoint continues exactly as if it had not stopped.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { DatasetRow } from '../../datasets/read.ts'
import type { BlobStore } from '../../shared/blob/store.ts'
import { type Environment, checkEnvironmentErrors } from '../../shared/protocol/environment.ts'
import { type Trajectory, runEpisodes } from '../../shared/protocol/episode.ts'
import type { ProtocolOptions } from '../../shared/protocol/options.ts'
import { dualConstrainedReward } from '../../shared/protocol/reward.ts'
import type { EngineSettings } from '../../shared/config.ts'
import type { ChatTokenizer } from '../../shared/protocol/tokenizer.ts'
import type { Checkpoint } from '../engine/checkpoint.ts'
import type { ProgressReport } from '../worker.ts'
import { agentRuntimeOn } from '../engine/agent-runtime.ts'
import { EnginePolicy } from '../engine/policy.ts'
import { seededRandom } from '../engine/sampling.ts'
import { Engine } from '../engine/session.ts'
import type { Aggregation, GrpoLossOptions } from './loss.ts'
import { type LoraOptions, PolicyModel, type TrainRow } from './model.ts'
import { type AdamWOptions, AdamW } from './optim.ts'
import { latestTrainState, loadTrainState, saveTrainState } from './state.ts'
import { type TrainingEpisode, episodeRecords } from './trajectories.ts'
import { type ScoredRow, demonstrationBatches, optimizerStep, prepareMicroBatches, splitEvenly } from './update.ts'

export interface GrpoOptions {
  steps: number
  groupSize: number
  promptsPerStep: number
  /** Optimizer updates per step: the step's episodes are split into this many mini-batches (published: 10). */
  updatesPerStep: number
  /** Tokens per forward/backward run (rows x the longest, padding counted); a mini-batch's gradients are accumulated over its micro-batches. */
  microBatchTokens: number
  loss: GrpoLossOptions
  optimizer: AdamWOptions
  aggregation: Aggregation
  /** (r - mean) / (std + 1e-6) (published); false: r - mean (Dr.GRPO). */
  scaleByStd: boolean
  protocol: ProtocolOptions
  /** The step fails the job when more than this share of its environment calls failed (always when all did). */
  environmentErrorLimit: number
  /** LoRA adapters; without, full fine-tuning. */
  lora?: LoraOptions
  /** Per-layer recomputation in the backward (less activation memory, one more forward per update). */
  recompute?: boolean
  seed: number
  /** Where the policy's sessions (training and rollouts) run. */
  engine: EngineSettings
  checkpointEvery: number
  /** Greedy validation every k steps (0: never). */
  validationEvery: number
  /** A supervised stage on `GrpoInput.demonstrations` before the first GRPO step (none by default). */
  warmStart?: WarmStartOptions
}

/**
 * The supervised warm-start: `steps` optimizer steps of the token NLL over batches of `batchSize`
 * demonstrations (micro-batches of `microBatchSize`), loss only on mask-1 tokens (the agent's own),
 * with its own AdamW, so GRPO's optimizer starts fresh.
 */
export interface WarmStartOptions {
  steps: number
  batchSize: number
  optimizer: AdamWOptions
}

export type StepMetrics = Record<string, number>

export interface GrpoInput {
  base: Checkpoint
  tokenizer: ChatTokenizer
  environment: Environment
  data: DatasetRow[]
  validation?: DatasetRow[]
  /** Trajectories for the warm-start (e.g. recordDemonstrations); their loss masks are used as they are. */
  demonstrations?: TrainRow[]
  options: GrpoOptions
  /** Scratch folder (the rollout engine's ONNX file). */
  workDir: string
  /** Where resumable checkpoints go. */
  checkpoints?: { store: BlobStore; prefix: string }
  /** The episode's reward; default: the dual-constrained reward, 0 for an episode that ends on environment tokens. */
  reward?: (t: Trajectory, row: DatasetRow) => number
  /** After each step: its metrics and its episodes (for the trajectory viewer). */
  onStep?: (step: number, metrics: StepMetrics, episodes: TrainingEpisode[]) => Promise<void> | void
  onWarmStartStep?: (step: number, metrics: StepMetrics) => Promise<void> | void
  onCheckpoint?: (step: number, dir: string, metrics: StepMetrics) => Promise<void> | void
  /** What the trainer is doing inside a step (episodes played, mini-batches done), as it goes. */
  onProgress?: (report: ProgressReport) => void
  signal?: AbortSignal
}

export function protocolReward(t: Trajectory, row: DatasetRow): number {
  if (t.lossMask[t.rewardIndex - t.promptLength] !== 1) return 0 // the reward would sit on an inserted (environment) token
  return dualConstrainedReward(t.text, row.golds).reward
}

/**
 * Group-relative advantages over consecutive groups of `n` rewards; the std is the unbiased one.
 * A group of one has mean 0 and std 1, as in verl's compute_grpo_outcome_advantage: its advantage is its reward.
 */
export function groupAdvantages(rewards: number[], n: number, scaleByStd: boolean): number[] {
  const out: number[] = []
  for (let i = 0; i < rewards.length; i += n) {
    const group = rewards.slice(i, i + n)
    const lone = group.length === 1
    const mean = lone ? 0 : group.reduce((a, b) => a + b, 0) / group.length
    const std = lone ? 1 : Math.sqrt(group.reduce((a, b) => a + (b - mean) ** 2, 0) / (group.length - 1))
    for (const r of group) out.push(scaleByStd ? (r - mean) / (std + 1e-6) : r - mean)
  }
  return out
}

/** A seed for stream `stream` of step `step`, from the run's seed. */
export function stepSeed(seed: number, stream: number, step: number): number {
  const r = seededRandom((seed ^ Math.imul(stream + 1, 0x9e3779b1) ^ Math.imul(step + 1, 0x85ebca6b)) >>> 0)
  return Math.floor(r() * 2 ** 32)
}

/** Batch `index` of `size` draws: consecutive items of a per-epoch shuffle of `items`, seeded by (seed, stream, epoch). */
function shuffledDraws<T>(items: T[], size: number, index: number, seed: number, stream: number): T[] {
  return Array.from({ length: size }, (_, i) => {
    const position = index * size + i
    const epoch = Math.floor(position / items.length)
    const order = items.map((_, k) => k)
    const random = seededRandom(stepSeed(seed, stream, epoch))
    for (let k = order.length - 1; k > 0; k--) {
      const j = Math.floor(random() * (k + 1))
      ;[order[k], order[j]] = [order[j], order[k]]
    }
    return items[order[position % items.length]]
  })
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0)

export class GrpoTrainer {
  step = 0
  private constructor(readonly input: GrpoInput, readonly model: PolicyModel, readonly optimizer: AdamW, readonly rollouts: Engine) {}

  static async create(input: GrpoInput): Promise<GrpoTrainer> {
    const o = input.options
    if (o.warmStart && !input.demonstrations?.length) throw new Error('a warm-start needs demonstrations')
    const model = await PolicyModel.create(input.base.config, (name) => input.base.weights.read(name, 'float32'), {
      lora: o.lora, loss: o.loss, session: o.engine, seed: stepSeed(o.seed, 0, -1), sft: !!o.warmStart, recompute: o.recompute,
    })
    const rollouts = await rolloutEngine(input.base, model, { engine: o.engine, lora: o.lora, cacheDir: join(input.workDir, 'engine') })
    const trainer = new GrpoTrainer(input, model, new AdamW(o.optimizer), rollouts)
    const saved = input.checkpoints && (await latestTrainState(input.checkpoints.store, input.checkpoints.prefix))
    if (saved) {
      await loadTrainState(input.checkpoints!.store, saved.dir, model, trainer.optimizer, saved.manifest)
      trainer.step = saved.manifest.step
    }
    return trainer
  }

  /** The prompts of step k: consecutive draws from a per-epoch shuffle of the data. */
  private prompts(step: number): DatasetRow[] {
    return shuffledDraws(this.input.data, this.input.options.promptsPerStep, step, this.input.options.seed, 1)
  }

  /**
   * The supervised warm-start on the demonstrations (GrpoOptions.warmStart). It belongs to step 0:
   * `run` plays it before the first GRPO step of a fresh run, never after a resume (the restored
   * weights already include it). `onWarmStartStep` gets each step's NLL.
   */
  async warmStart(): Promise<void> {
    const o = this.input.options
    const w = o.warmStart
    if (!w) return
    const optimizer = new AdamW(w.optimizer)
    for (let k = 0; k < w.steps; k++) {
      this.input.signal?.throwIfAborted()
      this.input.onProgress?.({ phase: 'warm-start', step: 0, steps: o.steps, done: k, total: w.steps })
      const rows = shuffledDraws(this.input.demonstrations!, w.batchSize, k, o.seed, 3)
      const micro = demonstrationBatches(rows, o.microBatchTokens, this.input.tokenizer.padId)
      const r = await optimizerStep(this.model, optimizer, micro, { kind: 'token-mean' }, 'sft')
      await this.input.onWarmStartStep?.(k + 1, { warmstart_step: k + 1, nll: r.loss, grad_norm: r.gradNorm, lr: r.lr })
    }
  }

  /** Plays episodes of `rows` with the current policy; temperature 1 (training) or greedy (validation). */
  async rollout(rows: DatasetRow[], step: number, greedy: boolean, phase: 'rollout' | 'validation' = 'rollout') {
    const { generator, tokenizer } = agentRuntimeOn(this.rollouts, this.input.tokenizer, this.input.options.engine)
    const policy = new EnginePolicy(generator, greedy ? { temperature: 0 } : { temperature: 1, topP: 1, seed: stepSeed(this.input.options.seed, 2, step) })
    return runEpisodes({
      policy, environment: this.input.environment, tokenizer,
      userContents: rows.map((r) => r.content), options: this.input.options.protocol, signal: this.input.signal,
      onRound: (ended, total) => this.input.onProgress?.({ phase, step: step + 1, steps: this.input.options.steps, done: ended, total }),
    })
  }

  /** One GRPO step; returns its metrics and its episodes. */
  async trainStep(): Promise<{ metrics: StepMetrics; episodes: TrainingEpisode[] }> {
    const o = this.input.options
    const step = this.step
    const reward = this.input.reward ?? protocolReward
    const started = performance.now()
    const rows = this.prompts(step).flatMap((r) => new Array<DatasetRow>(o.groupSize).fill(r))
    mkdirSync(this.input.workDir, { recursive: true })
    const { trajectories, metrics: episodes } = await this.rollout(rows, step, false)
    const firstError = trajectories.flatMap((t) => t.turns).find((turn) => turn.kind === 'call' && turn.error !== null)?.error ?? null
    checkEnvironmentErrors(`environment calls of step ${step + 1}`, episodes.environmentCalls, episodes.environmentErrors, o.environmentErrorLimit, firstError)
    const rolloutDone = performance.now()
    const rewards = trajectories.map((t, i) => reward(t, rows[i]))
    const parts = trajectories.map((t, i) => dualConstrainedReward(t.text, rows[i].golds))
    const advantages = groupAdvantages(rewards, o.groupSize, o.scaleByStd)
    const scored: ScoredRow[] = trajectories.map((t, i) => ({ tokens: t.tokens, promptLength: t.promptLength, lossMask: t.lossMask, advantage: advantages[i] }))
    // exactly updatesPerStep mini-batches of consecutive episodes (sizes differing by at most one), each micro-batched by tokens
    // (old and reference logprobs of every mini-batch are recorded before the first update)
    const miniBatches = []
    for (const rows of splitEvenly(scored, o.updatesPerStep)) {
      miniBatches.push(await prepareMicroBatches(this.model, rows, o.microBatchTokens, this.input.tokenizer.padId, o.loss.klCoef > 0))
    }
    const updates = []
    for (const micro of miniBatches) {
      this.input.signal?.throwIfAborted()
      this.input.onProgress?.({ phase: 'update', step: step + 1, steps: o.steps, done: updates.length, total: miniBatches.length })
      updates.push(await optimizerStep(this.model, this.optimizer, micro, o.aggregation))
    }
    const environmentSeconds = trajectories.flatMap((t) => t.turns).reduce((s, turn) => s + (turn.environmentLatencyMs ?? 0), 0) / 1000
    this.step += 1
    const metrics: StepMetrics = {
      step: this.step,
      reward_mean: mean(rewards),
      reward_std: Math.sqrt(mean(rewards.map((r) => (r - mean(rewards)) ** 2))),
      format_mean: mean(parts.map((p) => p.format)),
      answer_f1_mean: mean(parts.map((p) => p.answerF1)),
      response_tokens_mean: episodes.meanResponseTokens,
      turns_mean: episodes.meanTurns,
      environment_calls: episodes.environmentCalls,
      environment_tokens: episodes.environmentPromptTokens + episodes.environmentCompletionTokens,
      loss: mean(updates.map((u) => u.loss)),
      pg_loss: mean(updates.map((u) => u.metrics.pg_loss)),
      kl: mean(updates.map((u) => u.metrics.kl)),
      ...(o.loss.entropyCoef ? { entropy: mean(updates.map((u) => u.metrics.entropy)) } : {}),
      clip_frac: mean(updates.map((u) => u.metrics.clip_frac)),
      ratio_max: Math.max(...updates.map((u) => u.metrics.ratio_max)),
      grad_norm: mean(updates.map((u) => u.gradNorm)),
      lr: updates.at(-1)?.lr ?? 0,
      time_rollout_s: (rolloutDone - started) / 1000,
      // Summed latency of the environment calls, which overlap during the rollout.
      time_environment_s: environmentSeconds,
      time_update_s: (performance.now() - rolloutDone) / 1000,
    }
    if (o.validationEvery && this.input.validation?.length && this.step % o.validationEvery === 0) Object.assign(metrics, await this.validate())
    return {
      metrics,
      episodes: episodeRecords(this.step, o.groupSize, trajectories.map((trajectory, i) => ({
        row: rows[i], trajectory, reward: rewards[i], parts: parts[i], advantage: advantages[i],
      }))),
    }
  }

  /** Greedy episodes over the validation rows: mean reward overall and per data source. */
  async validate(): Promise<StepMetrics> {
    const rows = this.input.validation ?? []
    const { trajectories } = await this.rollout(rows, this.step - 1, true, 'validation')
    const rewards = trajectories.map((t, i) => dualConstrainedReward(t.text, rows[i].golds).reward)
    const out: StepMetrics = { 'val/reward_mean': mean(rewards) }
    for (const source of new Set(rows.map((r) => r.dataSource || 'default'))) {
      out[`val/${source}/reward_mean`] = mean(rewards.filter((_, i) => (rows[i].dataSource || 'default') === source))
    }
    return out
  }

  /** Runs steps until `until` (default: the configured number), checkpointing every k steps and at the end. */
  async run(until = this.input.options.steps): Promise<void> {
    const o = this.input.options
    if (this.step === 0 && until > 0) await this.warmStart()
    while (this.step < Math.min(until, o.steps)) {
      this.input.signal?.throwIfAborted()
      const { metrics, episodes } = await this.trainStep()
      await this.input.onStep?.(this.step, metrics, episodes)
      if (this.input.checkpoints && (this.step % o.checkpointEvery === 0 || this.step === o.steps)) {
        const { store, prefix } = this.input.checkpoints
        const dir = await saveTrainState(store, prefix, this.model, this.optimizer, {
          step: this.step, dataPosition: this.step * o.promptsPerStep, seed: o.seed, metrics,
        })
        await this.input.onCheckpoint?.(this.step, dir, metrics)
      }
    }
  }

  async dispose() { await Promise.all([this.model.dispose(), this.rollouts.dispose()]) }
}

/**
 * The engine the rollouts run on: the base checkpoint's serving graph with the policy's trainable
 * parameters as inputs (the LoRA factors and their scale, or every weight), fed from the very
 * arrays the optimizer updates.
 */
export function rolloutEngine(base: Checkpoint, model: PolicyModel, options: { engine: EngineSettings; lora?: LoraOptions; cacheDir: string }): Promise<Engine> {
  if (model.float !== 'float32') throw new Error('rollouts run float32 policies')
  const params = model.params as Map<string, Float32Array>
  const { provider, deviceId, threads } = options.engine
  return Engine.fromCheckpoint(base, {
    provider, deviceId, threads, cacheDir: options.cacheDir,
    ...(options.lora ? { lora: { rank: options.lora.rank, targets: options.lora.targets, factors: params, scale: () => model.loraScale } } : { weights: params }),
  })
}
