// The learning check of the training stack (test/training/learning.test.ts, scripts/demo-train.ts):
// one-digit arithmetic that the agent cannot do itself but the environment can. The environment
// (test/protocol/deterministic-arithmetic-env.ts, a real OpenAI-compatible HTTP server) computes the
// expression in the prompt it receives, so a reward of 1 needs the whole protocol: copy the question
// into a valid tool call, then copy the environment's result into <answer>.
//
// The warm-start demonstrations teach the format and the first half (the question copied into the
// call) and answer with one of the numbers of the environment's answer (an operand or the result),
// so after the warm-start the answer is right about a third of the time and only GRPO can teach the
// model which number to read.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { DatasetRow } from '../../datasets/read.ts'
import type { Environment } from '../../shared/protocol/environment.ts'
import { TRAINING_OPTIONS, type ProtocolOptions } from '../../shared/protocol/options.ts'
import { pyJsonString } from '../../shared/protocol/python.ts'
import { AGENT_SYSTEM_PROMPT, INSTRUCTION, userContentForQuestion } from '../../shared/protocol/template.ts'
import { ChatTokenizer } from '../../shared/protocol/tokenizer.ts'
import { openCheckpoint } from '../engine/checkpoint.ts'
import { type TinyModelOptions, makeTinyCheckpoint } from '../engine/tiny.ts'
import { recordDemonstrations } from './demonstrations.ts'
import { type GrpoInput, type GrpoOptions, GrpoTrainer } from './grpo.ts'
import { GRPO_LOSS_DEFAULTS } from './loss.ts'
import type { TrainRow } from './model.ts'
import { ADAMW_DEFAULTS } from './optim.ts'

/** Every "a + b" and "a - b" over digits whose result is one digit (0-9): 110 questions. */
export function arithmeticRows(): DatasetRow[] {
  const questions: [string, number][] = []
  for (let a = 0; a <= 9; a++) for (let b = 0; b <= 9; b++) {
    if (a + b <= 9) questions.push([`${a} + ${b}`, a + b])
    if (a - b >= 0) questions.push([`${a} - ${b}`, a - b])
  }
  return questions.map(([question, result], index) => ({ index, dataSource: 'arithmetic', question, content: userContentForQuestion(question), golds: [String(result)] }))
}

/** The agent's call for a question, in the protocol's format (JSON as Python's json.dumps writes it). */
export const callTurn = (question: string) =>
  `<think></think><interaction_prompt>{"name": "prompt", "arguments": {"prompt": ${pyJsonString(question)}}}</interaction_prompt>`

/** The final turn with an answer (after the prefilled "<think>\n"). */
export const answerTurn = (answer: string) => `</think><answer>${answer}</answer>`

/**
 * Demonstrations over `rows`, played against the real environment: the call copies the question;
 * the answer copies one number of the environment's answer "a op b = r". Every question is played
 * three times, once for each of a, b and r, so the warm-start teaches the format and that the
 * answer is a number of the environment's answer, but not which one: a model that learns the
 * demonstrations exactly is right about a third of the time (more where the numbers coincide).
 * Which number to copy is what GRPO has to learn.
 */
export async function arithmeticDemonstrations(tokenizer: ChatTokenizer, environment: Environment, rows: DatasetRow[]): Promise<TrainRow[]> {
  const out: TrainRow[] = []
  for (const pick of [1, 2, 3]) {
    const trajectories = await recordDemonstrations({
      tokenizer, environment, options: ARITHMETIC_PROTOCOL, userContents: rows.map((r) => r.content),
      write: (context) => {
        const response = /<interaction_response>\n\{"results": \["(\d+) [-+] (\d+) = (\d+)"\]\}/.exec(context)
        return response ? answerTurn(response[pick]) : callTurn(/<\|im_start\|>user\nQuestion: (.*?)\n/.exec(context)![1])
      },
    })
    out.push(...trajectories.map((t) => ({ tokens: t.tokens, promptLength: t.promptLength, lossMask: t.lossMask })))
  }
  return out
}

/** Two turns (a call, then the answer); a call is 14 tokens with the protocol tokens below. */
export const ARITHMETIC_PROTOCOL: ProtocolOptions = { ...TRAINING_OPTIONS, maxTurns: 2, maxNewTokensPerTurn: 24 }

/** The agent: a seeded random Qwen3 with the byte tokenizer (vocabulary 296: room for the protocol tokens below). */
export const ARITHMETIC_MODEL: TinyModelOptions = { seed: 11, hiddenSize: 64, numHeads: 4, numKvHeads: 2, intermediateSize: 128, numLayers: 2, vocabSize: 296 }

// Fixed texts of the protocol that become one token each, after the byte tokenizer's 282. The
// agent's system block and the dataset instruction are 2,400 bytes together: as single tokens the
// prompt shrinks from ~2,460 to 47 tokens, and attention over it from nearly all of a train step to
// nothing. The rendered text is unchanged (the agent is served with exactly this prompt); only its
// tokenization is shorter.
const PROTOCOL_TOKENS = [
  AGENT_SYSTEM_PROMPT, INSTRUCTION, '<interaction_prompt>', '</interaction_prompt>', '<interaction_response>', '</interaction_response>',
  '<answer>', '</answer>', '{"name": "prompt", "arguments": {"prompt": "',
]

/** Makes the tiny agent in `dir`: makeTinyCheckpoint, then the protocol tokens added to its byte tokenizer. */
export function makeArithmeticAgent(dir: string, options: TinyModelOptions = ARITHMETIC_MODEL) {
  const config = makeTinyCheckpoint(dir, { ...options, tokenizer: 'byte' })
  const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'))
  const tokenizerConfig = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'))
  let id = Math.max(...json.added_tokens.map((t: { id: number }) => t.id)) + 1
  for (const content of PROTOCOL_TOKENS) {
    if (id >= config.vocabSize) throw new Error('no free token id left in the vocabulary')
    const token = { content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: false }
    json.added_tokens.push({ id, ...token })
    tokenizerConfig.added_tokens_decoder[String(id++)] = token
  }
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json))
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig, null, 2))
  return config
}

/**
 * The run: full fine-tuning; a warm-start of 100 steps x 32 demonstrations; then 40 GRPO steps of 8
 * questions x 8 episodes with the published loss, except no KL term (the reference would be the
 * random model) and a learning rate for a tiny model.
 */
export function arithmeticOptions(overrides: Partial<GrpoOptions> = {}): GrpoOptions {
  return {
    steps: 40, groupSize: 8, promptsPerStep: 8, updatesPerStep: 2, microBatchTokens: 1024,
    loss: { ...GRPO_LOSS_DEFAULTS, klCoef: 0 },
    optimizer: { ...ADAMW_DEFAULTS, lr: 1e-3, weightDecay: 0 },
    aggregation: { kind: 'token-mean' }, scaleByStd: true,
    protocol: ARITHMETIC_PROTOCOL, environmentErrorLimit: 0.5,
    seed: 1, engine: { provider: 'cpu', deviceId: 0, threads: 1 }, checkpointEvery: 1_000_000, validationEvery: 0,
    warmStart: { steps: 100, batchSize: 32, optimizer: { ...ADAMW_DEFAULTS, lr: 1e-2, weightDecay: 0 } },
    ...overrides,
  }
}

export interface ArithmeticRun {
  /** Folder of the tiny base agent (made here). */
  baseDir: string
  /** Scratch space for rollouts. */
  workDir: string
  /** The environment LLM, e.g. an OpenAIEnvironment on test/protocol/deterministic-arithmetic-env.ts. */
  environment: Environment
  options?: Partial<GrpoOptions>
  checkpoints?: GrpoInput['checkpoints']
  onWarmStartStep?: GrpoInput['onWarmStartStep']
  onStep?: GrpoInput['onStep']
  signal?: AbortSignal
}

/** Makes the agent, records the demonstrations, and runs warm-start + GRPO; returns the trainer (dispose it) and the base checkpoint. */
export async function trainArithmetic(run: ArithmeticRun) {
  makeArithmeticAgent(run.baseDir)
  const base = openCheckpoint(run.baseDir)
  const tokenizer = await ChatTokenizer.fromFolder(run.baseDir)
  const data = arithmeticRows()
  const demonstrations = await arithmeticDemonstrations(tokenizer, run.environment, data)
  const trainer = await GrpoTrainer.create({
    base, tokenizer, environment: run.environment, data, demonstrations, options: arithmeticOptions(run.options),
    workDir: run.workDir, checkpoints: run.checkpoints, onWarmStartStep: run.onWarmStartStep, onStep: run.onStep, signal: run.signal,
  })
  try {
    await trainer.run()
  } catch (error) {
    await trainer.dispose()
    throw error
  }
  return { trainer, base, tokenizer }
}
