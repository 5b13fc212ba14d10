// The dual-constrained reward on hand-written trajectories in real Qwen3 chat format: each text is
// a first-turn context followed by agent turns and the feedback the runner inserts.
import { describe, expect, it } from 'vitest'
import { feedbackText, toolContentForAnswer } from '../../shared/protocol/feedback.ts'
import { dualConstrainedReward, rewardText } from '../../shared/protocol/reward.ts'
import { firstTurnText, userContentForQuestion } from '../../shared/protocol/template.ts'
import { qwen3Tokenizer } from './qwen3-tokenizer.ts'

const QUESTION = 'Who wrote Hamlet?'
const GOLDS = ['William Shakespeare', 'Shakespeare']
const CALL = '<think>\nI should ask the big model.\n</think>\n\n<interaction_prompt>{"name": "prompt", "arguments": {"prompt": "Who wrote Hamlet?"}}</interaction_prompt>'
const GOOD_ANSWER = '<think>\nThe model says Shakespeare.\n</think>\n\n<answer>William Shakespeare</answer>'

/** Agent turns joined as the episode runner joins them (default: one <|im_end|> per turn). */
function trajectoryText(turns: string[], options: { doubledImEnd?: boolean; lastTurnClosed?: boolean } = {}): string {
  let text = firstTurnText(userContentForQuestion(QUESTION))
  turns.forEach((turn, i) => {
    const isLast = i === turns.length - 1
    // Turns after the first start inside the prefilled "<think>\n", which the feedback text holds.
    const sampled = i > 0 ? turn.replace(/^<think>\n/, '') : turn
    text += sampled
    if (!isLast) text += '<|im_end|>' + feedbackText(toolContentForAnswer('Shakespeare wrote it.'), options.doubledImEnd ?? false)
    else if (options.lastTurnClosed ?? true) text += '<|im_end|>'
  })
  return text
}

describe('dual-constrained reward: the consequences table of PROTOCOL.md', () => {
  it('is written in real Qwen3 chat format (decodes back from its tokens)', async () => {
    const tokenizer = await qwen3Tokenizer()
    const text = trajectoryText([CALL, GOOD_ANSWER])
    expect(tokenizer.decode(tokenizer.encode(text))).toBe(text)
  })

  it('a direct answer without any call scores -0.4', () => {
    const parts = dualConstrainedReward(trajectoryText([GOOD_ANSWER]), GOLDS)
    expect(parts.formatByBlock).toEqual([0.6])
    expect(parts.reward).toBe(-0.4)
  })

  it('one good call plus a good final answer scores the F1', () => {
    const parts = dualConstrainedReward(trajectoryText([CALL, GOOD_ANSWER]), GOLDS)
    expect(parts).toMatchObject({ formatByBlock: [0.4, 0.6], format: 1, answer: 'William Shakespeare', answerF1: 1, reward: 1 })
    const partial = dualConstrainedReward(trajectoryText([CALL, GOOD_ANSWER.replace('William Shakespeare', 'W. Shakespeare')]), GOLDS)
    // "w shakespeare": 1/2 against "william shakespeare", 2/3 against "shakespeare" (the best gold).
    expect(partial.reward).toBeCloseTo(2 / 3, 12)
  })

  it('nothing parseable scores -1', () => {
    expect(dualConstrainedReward(trajectoryText(['I do not know.']), GOLDS).reward).toBe(-1)
    expect(dualConstrainedReward('no chat format at all', GOLDS)).toMatchObject({ format: 0, reward: -1, answer: '' })
  })

  it('several good calls are capped at a format of 1', () => {
    const parts = dualConstrainedReward(trajectoryText([CALL, CALL, CALL, GOOD_ANSWER]), GOLDS)
    expect(parts.formatByBlock).toEqual([0.4, 0.4, 0.4, 0.6])
    expect(parts.format).toBe(1)
    expect(parts.reward).toBe(1)
  })

  it('an episode cut by the turn limit (last block is a call) has no answer points', () => {
    const parts = dualConstrainedReward(trajectoryText([CALL, CALL]), GOLDS)
    expect(parts.formatByBlock).toEqual([0.4, 0])
    expect(parts.reward).toBeCloseTo(-0.6, 12)
  })

  it('an answer without <think> gets 0.5, an empty answer nothing', () => {
    expect(dualConstrainedReward(trajectoryText([CALL, '<answer>Shakespeare</answer>']), GOLDS).formatByBlock).toEqual([0.4, 0.5])
    expect(dualConstrainedReward(trajectoryText([CALL, '<think>\nx\n</think>\n\n<answer>  </answer>']), GOLDS).reward).toBeCloseTo(-0.6, 12)
  })

  it('a call block needs exactly one of each tag and nothing around them', () => {
    const twoCalls = CALL + '\n<interaction_prompt>{"name": "prompt", "arguments": {"prompt": "again"}}</interaction_prompt>'
    expect(dualConstrainedReward(trajectoryText([twoCalls, GOOD_ANSWER]), GOLDS).formatByBlock).toEqual([0, 0.6])
    expect(dualConstrainedReward(trajectoryText([CALL + ' trailing words', GOOD_ANSWER]), GOLDS).formatByBlock).toEqual([0, 0.6])
    expect(dualConstrainedReward(trajectoryText(['Preamble ' + CALL, GOOD_ANSWER]), GOLDS).formatByBlock).toEqual([0, 0.6])
  })

  it('lets "$" match before one final newline, as Python does, and not before two', () => {
    expect(dualConstrainedReward(trajectoryText([CALL + '\n', GOOD_ANSWER + '\n']), GOLDS).formatByBlock).toEqual([0.4, 0.6])
    expect(dualConstrainedReward(trajectoryText([CALL + '\n\n', GOOD_ANSWER + '\n\n']), GOLDS).formatByBlock).toEqual([0, 0.5])
  })

  it('scores the doubled <|im_end|> variant the same', () => {
    const single = dualConstrainedReward(trajectoryText([CALL, GOOD_ANSWER]), GOLDS)
    const doubled = dualConstrainedReward(trajectoryText([CALL, GOOD_ANSWER], { doubledImEnd: true }), GOLDS)
    expect(doubled).toEqual(single)
  })

  it('closes a last turn without <|im_end|> (cut by the length limit), as the published reward manager does', () => {
    const text = trajectoryText([CALL, GOOD_ANSWER], { lastTurnClosed: false })
    expect(rewardText(text)).toBe(text + '<|im_end|>')
    const parts = dualConstrainedReward(text, GOLDS)
    expect(parts.formatByBlock).toEqual([0.4, 0.6])
    expect(parts.reward).toBe(1)
  })

  it('scores the text up to the first <|endoftext|> (the pad string), closed with <|im_end|>', () => {
    const closed = trajectoryText([CALL, GOOD_ANSWER])
    const unclosed = trajectoryText([CALL, GOOD_ANSWER], { lastTurnClosed: false })
    expect(rewardText(unclosed + '<|endoftext|>')).toBe(closed)
    expect(rewardText(closed + '<|endoftext|><|endoftext|>')).toBe(closed)
    expect(dualConstrainedReward(unclosed + '<|endoftext|>', GOLDS).reward).toBe(1)
    // everything after the first pad is gone, however good
    expect(closed).toContain(CALL)
    expect(dualConstrainedReward(closed.replace(CALL, CALL + '<|endoftext|>'), GOLDS).formatByBlock).toEqual([0])
  })

  it('uses the training F1: an answer that normalises to nothing gets 0 even against an empty gold', () => {
    const parts = dualConstrainedReward(trajectoryText([CALL, GOOD_ANSWER.replace('William Shakespeare', 'A')]), ['a'])
    expect(parts.format).toBe(1)
    expect(parts.reward).toBe(0)
  })
})
