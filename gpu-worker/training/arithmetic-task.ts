// The demo and the learning check of the training stack (shared/demo.ts, test/training/learning.test.ts):
// one-digit arithmetic that the agent cannot do itself but the environment can. The environment
// (the built-in one, shared/protocol/builtin-environment.ts, or its HTTP twin in the tests) computes
// the expression in the prompt it receives, so a reward of 1 needs the whole protocol: copy the question
// into a valid tool call, then copy the environment's result into <answer>.
//
// The warm-start demonstrations teach the format and the first half (the question copied into the
// call) and answer with one of the numbers of the environment's answer (an operand or the result),
// so after the warm-start the answer is right about a third of the time and only GRPO can teach the
// model which number to read.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { arithmeticRows } from '../../datasets/builtin.ts'
import type { DatasetRow } from '../../datasets/read.ts'
import { DEMO_TRAINING_JOB } from '../../shared/demo.ts'
import { createTrainingJobBody } from '../../shared/job-config.ts'
import { ArithmeticEnvironment } from '../../shared/protocol/builtin-environment.ts'
import type { Environment } from '../../shared/protocol/environment.ts'
import type { ProtocolOptions } from '../../shared/protocol/options.ts'
import { pyJsonString } from '../../shared/protocol/python.ts'
import { AGENT_SYSTEM_PROMPT, INSTRUCTION } from '../../shared/protocol/template.ts'
import { ChatTokenizer } from '../../shared/protocol/tokenizer.ts'
import { openCheckpoint } from '../engine/checkpoint.ts'
import { type TinyModelOptions, makeTinyCheckpoint } from '../engine/tiny.ts'
import { recordDemonstrations } from './demonstrations.ts'
import { type GrpoInput, type GrpoOptions, GrpoTrainer, type WarmStartOptions } from './grpo.ts'
import { grpoOptionsOf } from './job-options.ts'
import type { TrainRow } from './model.ts'
import { ADAMW_DEFAULTS } from './optim.ts'
import { writeMergedModel } from './state.ts'

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

const WARM_START: WarmStartOptions = { steps: 100, batchSize: 32, optimizer: { ...ADAMW_DEFAULTS, lr: 1e-2, weightDecay: 0 } }

// The demo job's options, on one thread so that every run is the same
const DEMO_OPTIONS = grpoOptionsOf(createTrainingJobBody.parse(DEMO_TRAINING_JOB), { provider: 'cpu', deviceId: 0, threads: 1 })

/** The demo's: two turns (a call, then the answer); a call is 14 tokens with the protocol tokens below. */
export const ARITHMETIC_PROTOCOL: ProtocolOptions = DEMO_OPTIONS.protocol

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
 * The run: the demo job's recipe (shared/demo.ts: full fine-tuning, 40 GRPO steps of 8 questions x
 * 8 episodes, no KL term), after a warm-start of 100 steps x 32 demonstrations, on one thread.
 */
export function arithmeticOptions(overrides: Partial<GrpoOptions> = {}): GrpoOptions {
  return { ...DEMO_OPTIONS, warmStart: WARM_START, ...overrides }
}

export interface ArithmeticRun {
  /** Folder of the tiny base agent (made here). */
  baseDir: string
  /** Scratch space for rollouts. */
  workDir: string
  /** The environment LLM: the built-in arithmetic one, or an OpenAIEnvironment on its HTTP twin. */
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

// Bumped when what sampleAgent makes changes, so a worker's cache never serves an older agent.
const SAMPLE_AGENT_VERSION = 1
// by folder: a second job naming the agent while it is being made waits for the same one
const making = new Map<string, Promise<string>>()

/**
 * The sample agent `builtin:arithmetic-agent`: the tiny agent after the warm-start (it knows the
 * protocol's format and answers right about a third of the time; GRPO teaches it the rest). Made
 * once per cache folder, seeded and on one thread, so every worker makes the same weights; written
 * beside its final place and renamed, so a half-made agent is never read.
 */
export async function sampleAgent(cacheDir: string): Promise<string> {
  const dir = join(cacheDir, 'builtin', `arithmetic-agent-${SAMPLE_AGENT_VERSION}`)
  if (existsSync(join(dir, 'config.json'))) return dir
  let made = making.get(dir)
  if (!made) {
    made = makeSampleAgent(dir).finally(() => making.delete(dir))
    making.set(dir, made)
  }
  return made
}

async function makeSampleAgent(dir: string): Promise<string> {
  const work = `${dir}.partial-${process.pid}`
  rmSync(work, { recursive: true, force: true })
  try {
    makeArithmeticAgent(join(work, 'base'))
    const base = openCheckpoint(join(work, 'base'))
    const tokenizer = await ChatTokenizer.fromFolder(base.dir)
    const environment = new ArithmeticEnvironment()
    const data = arithmeticRows()
    const trainer = await GrpoTrainer.create({
      base, tokenizer, environment, data, demonstrations: await arithmeticDemonstrations(tokenizer, environment, data),
      options: arithmeticOptions(), workDir: join(work, 'rollouts'),
    })
    try {
      await trainer.warmStart()
      writeMergedModel(base, trainer.model, join(work, 'agent'))
    } finally {
      await trainer.dispose()
    }
    mkdirSync(dirname(dir), { recursive: true })
    try {
      renameSync(join(work, 'agent'), dir)
    } catch (error) {
      if (!existsSync(join(dir, 'config.json'))) throw error // else another worker on this cache made it first
    }
    return dir
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}
