// What a training job would cost, said before it is launched: its episodes, agent turns and
// environment calls (at most: an episode ends early when the agent answers), the tokens the agent
// may sample, its validation episodes, and how long it should take, from the project's latest
// succeeded job of the same base model (its seconds per episode, rollout and update, times this
// job's episodes); without such a job there is no time to scale from, and the estimate says so.
import { namedDataset } from '../datasets/named.ts'
import type { Database } from '../shared/db/database.ts'
import { getFile } from '../shared/db/files.ts'
import { latestSucceededTraining, listEvents } from '../shared/db/jobs.ts'
import { type TrainingJobConfig, createTrainingJobBody } from '../shared/job-config.ts'

async function rowCount(db: Database, projectId: string, fileId: string | undefined): Promise<number | null> {
  if (!fileId) return null
  const named = namedDataset(fileId)
  if (named) return named.rowCount
  return (await getFile(db, projectId, fileId))?.rowCount ?? null
}

export async function estimateTraining(db: Database, projectId: string, body: TrainingJobConfig) {
  if (body.method.type !== 'grpo') {
    const { steps, step_ms: stepMs } = body.method.noop
    return {
      object: 'fine_tuning.job.estimate' as const, episodes: 0, episodes_per_step: 0, epochs: null, training_rows: null, validation_episodes: 0,
      agent_turns_max: 0, environment_calls_max: 0, sampled_tokens_max: 0, time: { seconds: Math.round((steps * stepMs) / 1000), basis: 'the noop job\'s own steps' },
    }
  }
  const hp = body.method.grpo.hyperparameters
  const episodesPerStep = hp.prompts_per_step * hp.group_size
  const episodes = hp.steps * episodesPerStep
  const [trainingRows, validationRows] = await Promise.all([rowCount(db, projectId, body.training_file), rowCount(db, projectId, body.validation_file)])
  const validations = validationRows === null ? 0 : Math.floor(hp.steps / hp.validation_every)
  return {
    object: 'fine_tuning.job.estimate' as const,
    episodes,
    episodes_per_step: episodesPerStep,
    // each prompt of a step is drawn from a per-epoch shuffle: passes over the training rows
    epochs: trainingRows ? (hp.steps * hp.prompts_per_step) / trainingRows : null,
    training_rows: trainingRows,
    validation_episodes: validations * (validationRows ?? 0),
    agent_turns_max: episodes * hp.max_turns,
    // every turn but an answering one calls the environment once
    environment_calls_max: episodes * hp.max_turns,
    sampled_tokens_max: episodes * Math.min(hp.max_turns * hp.max_new_tokens_per_turn, hp.max_response_tokens),
    time: await timeFromHistory(db, projectId, body, episodes),
  }
}

async function timeFromHistory(db: Database, projectId: string, body: TrainingJobConfig, episodes: number) {
  const earlier = body.model ? await latestSucceededTraining(db, projectId, body.model) : undefined
  const parsed = earlier && createTrainingJobBody.safeParse(earlier.config)
  if (!earlier || !parsed?.success || parsed.data.method.type !== 'grpo') {
    return { seconds: null, basis: `no succeeded training job of ${body.model ?? 'this model'} in this project to time from yet` }
  }
  const { prompts_per_step: prompts, group_size: group } = parsed.data.method.grpo.hyperparameters
  const steps = (await listEvents(db, earlier.id, 0, 1000)).data
    .map((e) => e.data ?? {})
    .filter((d) => typeof d.time_rollout_s === 'number' && typeof d.time_update_s === 'number')
  if (steps.length === 0) return { seconds: null, basis: `job ${earlier.id} recorded no step times` }
  const perEpisode = steps.reduce((sum, d) => sum + (d.time_rollout_s as number) + (d.time_update_s as number), 0) / (steps.length * prompts * group)
  return {
    seconds: Math.round(perEpisode * episodes),
    basis: `job ${earlier.id} (same base model): ${perEpisode.toFixed(2)} s per episode, rollout and update, over its ${steps.length} steps; validation and checkpoints come on top`,
  }
}
