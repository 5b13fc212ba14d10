// The demo: the tiny sample agent (builtin:arithmetic-agent) trained by GRPO on the built-in
// arithmetic questions against the built-in arithmetic environment, as an ordinary training job.
// The dashboard's "Train the demo agent" and `npm run demo:train` post this body; the learning
// check (test/training/learning.test.ts) runs the same recipe on the trainer directly. About a
// minute on 2 CPU cores, the sample agent made first; every part runs offline.
import type { z } from 'zod'
import type { createTrainingJobBody } from './job-config.ts'

export const DEMO_TRAINING_JOB = {
  model: 'builtin:arithmetic-agent',
  training_file: 'arithmetic',
  environment: { builtin: 'arithmetic' },
  seed: 1,
  suffix: 'demo',
  metadata: { demo: 'arithmetic' },
  method: {
    type: 'grpo',
    grpo: {
      // 40 steps of 8 questions x 8 episodes, full fine-tuning with a learning rate for a tiny
      // model, no KL term (the reference would be the untrained sample agent), two turns (a call,
      // then the answer) of at most 24 tokens
      hyperparameters: {
        steps: 40, prompts_per_step: 8, group_size: 8, updates_per_step: 2, learning_rate: 1e-3, weight_decay: 0, kl_coef: 0,
        max_turns: 2, max_new_tokens_per_turn: 24, micro_batch_tokens: 1024, lora_rank: 0, checkpoint_every: 40,
      },
    },
  },
} as const satisfies z.input<typeof createTrainingJobBody>
