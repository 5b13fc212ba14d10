// The dual-constrained reward of the published training: a format score over the agent's assistant
// blocks, and the answer's F1 only when the format is perfect.
import { tokenOverlapF1, normalizeAnswer } from './metrics.ts'
import { extractAnswer } from './parse.ts'
import { PY_SPACE, pySplit } from './python.ts'

export interface RewardParts {
  /** Format points per assistant block, in order (0.4 or 0 for a call turn; 0, 0.5 or 0.6 for the last). */
  formatByBlock: number[]
  /** The sum, capped at 1. */
  format: number
  /** The final answer: the first <answer> of the last block, trimmed ("" if none). */
  answer: string
  /** Best F1 of the answer over the golds (the training reward's F1: 0 when nothing overlaps). */
  answerF1: number
  /** answerF1 when format is 1, else format - 1. */
  reward: number
}

// Every `<|im_start|>assistant\n ... <|im_end|>` of the decoded context; later blocks begin with the
// prefilled "<think>\n", which counts as part of the block.
const ASSISTANT_BLOCK = /<\|im_start\|>assistant\n([\s\S]*?)<\|im_end\|>/g
// `$` as in Python's re: the end, or just before one final newline.
const PY_END = '(?=\\n?$)'
const CALL_BLOCK = new RegExp(`^<think>[\\s\\S]*?</think>${PY_SPACE}*<interaction_prompt>[\\s\\S]*?</interaction_prompt>${PY_END}`)
const ANSWER_BLOCK = new RegExp(`^<think>[\\s\\S]*?</think>[\\s\\S]*?<answer>[\\s\\S]*?</answer>${PY_END}`)

const count = (text: string, tag: string) => text.split(tag).length - 1

function callBlockScore(block: string): number {
  const oneOfEach = ['<think>', '</think>', '<interaction_prompt>', '</interaction_prompt>'].every((tag) => count(block, tag) === 1)
  return oneOfEach && CALL_BLOCK.test(block) ? 0.4 : 0
}

function answerBlockScore(block: string): number {
  if (extractAnswer(block) === '') return 0
  return ANSWER_BLOCK.test(block) ? 0.5 + 0.1 : 0.5
}

const PAD = '<|endoftext|>'
const IM_END = '<|im_end|>'

/**
 * The text the published reward manager scores, from the decoded context (special tokens kept): cut
 * at the first pad string, and closed with <|im_end|> when it does not end with one, so that a final
 * turn stopped by the token limit, or by a sampled <|endoftext|>, is still a block.
 */
export function rewardText(decoded: string): string {
  const cut = decoded.split(PAD, 1)[0]
  return cut.endsWith(IM_END) ? cut : cut + IM_END
}

/** Scores the full decoded context (special tokens kept) of one episode against its gold answers. */
export function dualConstrainedReward(decoded: string, golds: string[]): RewardParts {
  const blocks = Array.from(rewardText(decoded).matchAll(ASSISTANT_BLOCK), (match) => match[1])
  if (blocks.length === 0) return { formatByBlock: [], format: 0, answer: '', answerF1: 0, reward: -1 }
  const last = blocks[blocks.length - 1]
  const formatByBlock = [...blocks.slice(0, -1).map(callBlockScore), answerBlockScore(last)]
  // Below the cap these sums are exact in floating point (0.4, 0.5, 0.6, 0.8, 0.9, 1), as published.
  const format = Math.min(formatByBlock.reduce((sum, points) => sum + points, 0), 1.0)
  const answer = extractAnswer(last)
  const answerTokens = pySplit(normalizeAnswer(answer))
  const answerF1 = Math.max(0, ...golds.map((gold) => tokenOverlapF1(answerTokens, pySplit(normalizeAnswer(gold)))))
  return { formatByBlock, format, answer, answerF1, reward: format === 1.0 ? answerF1 : format - 1.0 }
}
