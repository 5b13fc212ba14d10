// The episode runner with a scripted policy (replaying written turns as real Qwen3 tokens) against
// a real local OpenAI-compatible server (a deterministic arithmetic environment).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OpenAIEnvironment, type OpenAIEnvironmentConfig } from '../../shared/protocol/environment.ts'
import { runEpisodes, type Policy, type Trajectory } from '../../shared/protocol/episode.ts'
import { feedbackText, toolContentForAnswer } from '../../shared/protocol/feedback.ts'
import { BATCH_INFERENCE_OPTIONS, INFERENCE_OPTIONS, TRAINING_OPTIONS, type ProtocolOptions } from '../../shared/protocol/options.ts'
import { dualConstrainedReward } from '../../shared/protocol/reward.ts'
import { protocolReward } from '../../gpu-worker/training/grpo.ts'
import { AGENT_SYSTEM_PROMPT, ENVIRONMENT_SYSTEM_PROMPT, firstTurnText, userContentForQuestion } from '../../shared/protocol/template.ts'
import type { ChatTokenizer } from '../../shared/protocol/tokenizer.ts'
import { maxConcurrent, startDeterministicArithmeticEnv, type DeterministicArithmeticEnv } from './deterministic-arithmetic-env.ts'
import { qwen3Tokenizer } from './qwen3-tokenizer.ts'
import { SCRIPTED_LOGPROB, ScriptedPolicy } from './scripted-policy.ts'

let env: DeterministicArithmeticEnv
let tokenizer: ChatTokenizer
beforeAll(async () => {
  ;[env, tokenizer] = await Promise.all([startDeterministicArithmeticEnv(), qwen3Tokenizer()])
})
afterAll(async () => { await env.close() })

const callTurn = (prompt: string, think = 'I will ask the large model.') =>
  `<think>\n${think}\n</think>\n\n<interaction_prompt>${JSON.stringify({ name: 'prompt', arguments: { prompt } })}</interaction_prompt>`
const answerTurn = (answer: string) => `The model answered.\n</think>\n\n<answer>${answer}</answer>` // inside the prefilled <think>
const directAnswer = (answer: string) => `<think>\nEasy.\n</think>\n\n<answer>${answer}</answer>`

function environment(config: Partial<OpenAIEnvironmentConfig> = {}) {
  return new OpenAIEnvironment({
    baseURL: env.baseURL, apiKey: 'test-key', model: 'arithmetic-1', policy: { allowLoopback: true }, timeoutMs: 2000, maxRetries: 1, retryBaseDelayMs: 20, concurrency: 4, ...config,
  })
}

async function run(
  scripts: Record<string, string[]>,
  options: Partial<ProtocolOptions> = {},
  config: Partial<OpenAIEnvironmentConfig> = {},
  policy: Policy = new ScriptedPolicy(tokenizer, scripts),
) {
  const userContents = Object.keys(scripts).map(userContentForQuestion)
  return runEpisodes({ policy, environment: environment(config), tokenizer, userContents, options: { ...TRAINING_OPTIONS, ...options } })
}

const requestsWith = (text: string) => env.requests.filter((r) => r.messages.at(-1)!.content.includes(text))
const responseMask = (t: Trajectory) => t.lossMask
const count = (text: string, part: string) => text.split(part).length - 1

describe('runEpisodes', () => {
  it('ends on an answer without a call', async () => {
    const { trajectories: [t] } = await run({ 'What is 2 + 2?': [directAnswer('4')] })
    expect(t).toMatchObject({ endReason: 'answer', answer: '4', environmentUsage: { promptTokens: 0, completionTokens: 0 } })
    expect(t.turns).toHaveLength(1)
    expect(t.text).toBe(firstTurnText(userContentForQuestion('What is 2 + 2?')) + directAnswer('4') + '<|im_end|>')
    expect(responseMask(t).every((m) => m === 1)).toBe(true)
    expect(t.logprobs.every((l) => l === SCRIPTED_LOGPROB)).toBe(true)
    expect(dualConstrainedReward(t.text, ['4']).reward).toBe(-0.4)
  })

  it('feeds one call back exactly once, as environment tokens with loss mask 0', async () => {
    const question = 'What is 17 * 23?'
    const policy = new ScriptedPolicy(tokenizer, { [question]: [callTurn('Compute 17 * 23 please.'), answerTurn('391')] })
    const { trajectories: [t] } = await run({ [question]: [] }, {}, {}, policy)
    const content = toolContentForAnswer('17 * 23 = 391')
    const feedback = feedbackText(content, false) // the sampled <|im_end|> closes the turn: no second one
    expect(count(t.text, feedback)).toBe(1)
    expect(t.text).toBe(firstTurnText(userContentForQuestion(question)) + callTurn('Compute 17 * 23 please.') + '<|im_end|>' + feedback + answerTurn('391') + '<|im_end|>')
    expect(t.text).not.toContain('<|im_end|><|im_end|>')

    // The mask: the call (and its stop token) 1, every inserted token 0, the answer turn 1.
    const callTokens = tokenizer.encode(callTurn('Compute 17 * 23 please.')).length + 1
    const feedbackTokens = tokenizer.encode(feedback)
    const response = t.tokens.slice(t.promptLength)
    expect(response.slice(callTokens, callTokens + feedbackTokens.length)).toEqual(feedbackTokens)
    expect(t.lossMask).toEqual([
      ...new Array(callTokens).fill(1), ...new Array(feedbackTokens.length).fill(0), ...new Array(response.length - callTokens - feedbackTokens.length).fill(1),
    ])
    expect(t.logprobs.slice(callTokens, callTokens + feedbackTokens.length).every((l) => l === 0)).toBe(true)
    expect(t.lossMask[t.rewardIndex - t.promptLength]).toBe(1)
    expect(t.tokens[t.rewardIndex]).toBe(tokenizer.imEndId)

    // What the policy saw on turn 2 is the same context, ending in the prefilled "<think>\n".
    expect(policy.batches[1][0]).toBe(tokenizer.decode(t.tokens.slice(0, t.promptLength + callTokens + feedbackTokens.length)))
    expect(policy.batches[1][0].endsWith('<|im_start|>assistant\n<think>\n')).toBe(true)

    expect(t.turns[0]).toMatchObject({
      kind: 'call', think: 'I will ask the large model.', prompt: 'Compute 17 * 23 please.', environmentAnswer: '17 * 23 = 391',
      toolContent: content, error: null, sampledTokens: callTokens,
    })
    expect(t.turns[0].environmentLatencyMs).toBeGreaterThan(0)
    expect(t.environmentUsage).toEqual(t.turns[0].environmentUsage)
    expect(t.retokenizationMatches).toBe(true)
    expect(dualConstrainedReward(t.text, ['391'])).toMatchObject({ format: 1, reward: 1, answer: '391' })
  })

  it('keeps the environment history per episode over several calls, without the think text', async () => {
    // Episodes that end earlier must not shift this one's history (the published batch bug).
    const { trajectories: [t] } = await run({
      'Several calls?': [callTurn('First: 2 + 3'), `Now double it.\n</think>\n\n<interaction_prompt>{"name": "prompt", "arguments": {"prompt": "Second: 5 * 2"}}</interaction_prompt>`, answerTurn('10')],
      'Ends first?': [directAnswer('1')],
      'Ends second?': [callTurn('Other: 7 + 7'), answerTurn('14')],
    })
    expect(t).toMatchObject({ endReason: 'answer', answer: '10' })
    const [second] = requestsWith('Second: 5 * 2')
    expect(second.messages).toEqual([
      { role: 'system', content: ENVIRONMENT_SYSTEM_PROMPT },
      { role: 'user', content: 'First: 2 + 3' },
      { role: 'assistant', content: '2 + 3 = 5' },
      { role: 'user', content: 'Second: 5 * 2' },
    ])
    expect(JSON.stringify(env.requests.map((r) => r.messages))).not.toContain('I will ask the large model')
    expect(dualConstrainedReward(t.text, ['10']).reward).toBe(1)
  })

  it('stops at the turn limit, with the reward on a masked token', async () => {
    const calls = Array.from({ length: 5 }, (_, i) => callTurn(`Limit step ${i}: ${i} + 1`))
    const { trajectories: [t] } = await run({ 'Turn limit?': [...calls, directAnswer('never')] })
    expect(t.endReason).toBe('turn-limit')
    expect(t.turns).toHaveLength(5)
    expect(requestsWith('Limit step')).toHaveLength(5)
    expect(t.lossMask[t.rewardIndex - t.promptLength]).toBe(0)
    expect(t.text.endsWith('<|im_start|>assistant\n<think>\n')).toBe(true)
    expect(t.answer).toBe('')
  })

  it('does not start a turn once the context exceeds the limit', async () => {
    const question = 'Context limit?'
    const promptLength = tokenizer.encode(firstTurnText(userContentForQuestion(question))).length
    const { trajectories: [t] } = await run({ [question]: [callTurn('Context: 1 + 1'), answerTurn('2')] }, { maxContextTokens: promptLength + 20 })
    expect(t.endReason).toBe('context-limit')
    expect(t.turns).toHaveLength(1)
    expect(t.tokens.length).toBeGreaterThan(promptLength + 20)
  })

  it('turns malformed tool JSON into the published error and goes on', async () => {
    const { trajectories: [t] } = await run({
      'Malformed?': ['<think>\nx\n</think>\n\n<interaction_prompt>{"name": "prompt", "arguments": {"prompt": "unclosed"</interaction_prompt>', answerTurn('2')],
    })
    expect(t.turns[0]).toMatchObject({ kind: 'invalid-call', error: 'Error: JSONDecodeError', toolContent: 'Error: JSONDecodeError', prompt: null })
    expect(t.text).toContain('<interaction_response>\nError: JSONDecodeError\n</interaction_response>')
    expect(requestsWith('unclosed')).toHaveLength(0)
    expect(t).toMatchObject({ endReason: 'answer', answer: '2' })
  })

  it('with the lenient option, sends a non-JSON body as the prompt', async () => {
    const { trajectories: [t] } = await run(
      { 'Lenient?': ['<think>\nx\n</think>\n\n<interaction_prompt>\nLenient: 4 * 4\n</interaction_prompt>', answerTurn('16')] },
      { lenientToolBody: INFERENCE_OPTIONS.lenientToolBody },
    )
    expect(t.turns[0]).toMatchObject({ kind: 'call', prompt: 'Lenient: 4 * 4', environmentAnswer: '4 * 4 = 16' })
  })

  it('turns environment 500s that survive the retries into the tool content and goes on', async () => {
    const prompt = 'Failing: 1 + 2 [status 500 x9]'
    const { trajectories: [t] } = await run({ 'Server errors?': [callTurn(prompt), `Retry.\n</think>\n\n<interaction_prompt>{"name": "prompt", "arguments": {"prompt": "After failure: 1 + 2"}}</interaction_prompt>`, answerTurn('3')] })
    expect(requestsWith(prompt)).toHaveLength(2) // one retry
    expect(t.turns[0].error).toMatch(/500/)
    expect(t.turns[0].toolContent).toBe(t.turns[0].error) // the error text itself, not JSON
    expect(t.text).toContain(`<interaction_response>\n${t.turns[0].error}\n</interaction_response>`)
    // The failed call stays in the history with an empty answer (as published).
    expect(requestsWith('After failure')[0].messages.slice(1)).toEqual([
      { role: 'user', content: prompt }, { role: 'assistant', content: '' }, { role: 'user', content: 'After failure: 1 + 2' },
    ])
    expect(t).toMatchObject({ endReason: 'answer', answer: '3' })
  })

  it('turns a timeout into the tool content', async () => {
    const { trajectories: [t] } = await run({ 'Timeout?': [callTurn('Slow: 2 * 2 [delay 1000]'), answerTurn('4')] }, {}, { timeoutMs: 150, maxRetries: 0 })
    expect(t.turns[0].error).toMatch(/timed out/i)
    expect(t.turns[0].environmentLatencyMs).toBeLessThan(900)
    expect(t.endReason).toBe('answer')
  })

  it('waits out a 429 with Retry-After and then feeds the answer back', async () => {
    const prompt = 'Rate limited: 6 * 7 [status 429 retry-after 1]'
    const { trajectories: [t] } = await run({ 'Rate limit?': [callTurn(prompt), answerTurn('42')] })
    expect(t.turns[0]).toMatchObject({ environmentAnswer: '6 * 7 = 42', error: null })
    expect(t.turns[0].environmentLatencyMs).toBeGreaterThanOrEqual(1000)
  })

  it('runs many episodes at once, batching the policy and respecting the environment cap', async () => {
    const scripts = Object.fromEntries(Array.from({ length: 24 }, (_, i) => [`Many ${i}?`, [callTurn(`Many: ${i} * 3 [delay 30]`), answerTurn(String(i * 3))]]))
    const policy = new ScriptedPolicy(tokenizer, scripts)
    const { trajectories, metrics } = await run(scripts, {}, { concurrency: 4 }, policy)
    expect(policy.batches.map((batch) => batch.length)).toEqual([24, 24])
    expect(maxConcurrent(requestsWith('Many: '))).toBe(4)
    trajectories.forEach((t, i) => {
      expect(t.index).toBe(i)
      expect(t.answer).toBe(String(i * 3))
      expect(t.turns[0].environmentAnswer).toBe(`${i} * 3 = ${i * 3}`)
    })
    expect(metrics).toMatchObject({ episodes: 24, meanTurns: 2, environmentCalls: 24, environmentErrors: 0, retokenizationDriftEpisodes: 0 })
    expect(metrics.endReasons.answer).toBe(24)
    expect(metrics.environmentPromptTokens).toBe(trajectories.reduce((sum, t) => sum + t.environmentUsage.promptTokens, 0))
  })

  it('reproduces the doubled <|im_end|> as a named option, scoring the same', async () => {
    const script = { 'Doubled?': [callTurn('Doubled: 8 + 8'), answerTurn('16')] }
    const { trajectories: [t] } = await run(script, { doubledImEnd: true })
    expect(count(t.text, '<|im_end|><|im_end|>\n<|im_start|>user\n<interaction_response>')).toBe(1)
    const feedbackStart = t.tokens.lastIndexOf(tokenizer.imEndId, t.tokens.indexOf(tokenizer.imStartId, t.promptLength))
    expect(t.lossMask[feedbackStart - t.promptLength]).toBe(0) // the second <|im_end|> is inserted
    expect(t.lossMask[feedbackStart - t.promptLength - 1]).toBe(1) // the first was sampled
    expect(dualConstrainedReward(t.text, ['16']).reward).toBe(1)
  })

  it('closes a turn cut by the per-turn limit with an inserted <|im_end|>', async () => {
    const call = callTurn('Cut: 9 - 3')
    const maxNewTokensPerTurn = tokenizer.encode(call).length
    const { trajectories: [t] } = await run({ 'Cut turn?': [call + '<|cut|>', directAnswer('6').slice('<think>\n'.length)] }, { maxNewTokensPerTurn })
    expect(t.turns[0].sampledTokens).toBe(maxNewTokensPerTurn)
    expect(t.tokens[t.promptLength + maxNewTokensPerTurn]).toBe(tokenizer.imEndId)
    expect(t.lossMask[maxNewTokensPerTurn]).toBe(0)
    expect(t.text).toContain(call + feedbackText(toolContentForAnswer('9 - 3 = 6'), true))
  })

  it('scores a final turn stopped by the token limit right after </answer> as the published reward manager does', async () => {
    // "<|cut|>": the scripted turn ends without a stop token, as one that reached max_new_tokens does
    const { trajectories: [t] } = await run({ 'Limit after answer?': [callTurn('Limit: 7 + 7'), answerTurn('14') + '<|cut|>'] })
    expect(t.text.endsWith('</answer>')).toBe(true) // no <|im_end|> was sampled
    // the scored text is closed with <|im_end|>, so the answer turn is a block: 0.4 + 0.6, then the F1
    expect(dualConstrainedReward(t.text, ['14'])).toMatchObject({ formatByBlock: [0.4, 0.6], reward: 1 })
    expect(protocolReward(t, { golds: ['14'] } as never)).toBe(1)
    // a direct answer cut the same way: 0.6 - 1, not -1
    const { trajectories: [d] } = await run({ 'Direct limit?': [directAnswer('3') + '<|cut|>'] })
    expect(dualConstrainedReward(d.text, ['3']).reward).toBeCloseTo(-0.4, 12)
  })

  it('treats a sampled <|endoftext|> as padding: cut from the scored text, masked, the reward on the token before', async () => {
    const question = 'Pad after answer?'
    const { trajectories: [t] } = await run({ [question]: [callTurn('Pad: 2 * 9'), answerTurn('18') + '<|endoftext|><|cut|>'] })
    expect(t.tokens.at(-1)).toBe(tokenizer.padId)
    expect(t.lossMask.at(-1)).toBe(0)
    expect(t.rewardIndex).toBe(t.tokens.length - 2)
    expect(t.lossMask[t.rewardIndex - t.promptLength]).toBe(1)
    expect(dualConstrainedReward(t.text, ['18'])).toMatchObject({ formatByBlock: [0.4, 0.6], reward: 1 })
    expect(protocolReward(t, { golds: ['18'] } as never)).toBe(1)
    // a pad sampled at the end of the first turn cuts everything after it from the scored text
    const { trajectories: [early] } = await run({ 'Early pad?': [callTurn('Early: 1 + 1') + '<|endoftext|><|cut|>', answerTurn('2')] })
    expect(early.turns).toHaveLength(2)
    expect(dualConstrainedReward(early.text, ['2'])).toMatchObject({ formatByBlock: [0], reward: -1 })
  })

  it('cuts the response at the response limit', async () => {
    const { trajectories: [t] } = await run({ 'Response limit?': [callTurn('Response: 5 + 5'), answerTurn('10')] }, { maxResponseTokens: 60 })
    expect(t.lossMask).toHaveLength(60)
    expect(t.tokens).toHaveLength(t.promptLength + 60)
    expect(t.endReason).toBe('response-limit')
  })

  it('reports tokens that do not survive decoding and re-encoding', async () => {
    const hello = [...tokenizer.encode('hel'), ...tokenizer.encode('lo')] // a tokenization the tokenizer would not choose
    expect(tokenizer.encode('hello')).not.toEqual(hello)
    const seen: unknown[] = []
    const policy: Policy = {
      async generate(contexts, options) {
        seen.push(options)
        return contexts.map(() => {
          const tokens = [...tokenizer.encode('<think>\nx\n</think>\n\n<answer>'), ...hello, ...tokenizer.encode('</answer>'), tokenizer.imEndId]
          return { tokens, logprobs: tokens.map(() => -1) }
        })
      },
    }
    const { trajectories: [t], metrics } = await run({ 'Drift?': [] }, {}, {}, policy)
    expect(t.answer).toBe('hello')
    expect(t.retokenizationMatches).toBe(false)
    expect(metrics.retokenizationDriftEpisodes).toBe(1)
    // Each turn samples until <|im_end|> or EOS (<|endoftext|>), at most 1024 new tokens.
    expect(seen).toEqual([{ maxNewTokens: 1024, stopTokenIds: [151645, 151643] }])
  })

describe('the published inference scripts (one user message)', () => {
  // The reference: what batch_inference.py sends vLLM each turn, built as the script builds it, from
  // strings (messages[0].content + processed response + tool response), wrapped in Qwen3's template.
  const SYSTEM_INSTRUCTION = `\n<|im_start|>system\n${AGENT_SYSTEM_PROMPT}<|im_end|>\n<|im_start|>\nuser\n`
  const rendered = (content: string) => `<|im_start|>user\n${content}<|im_end|>\n<|im_start|>assistant\n`
  const toolResponse = (content: string) => `<|im_end|>\n<|im_start|>user\n<interaction_response>\n${content}\n</interaction_response><|im_end|>\n<|im_start|>assistant\n<think>\n`

  it('sends the whole context as one user message, cut after the first </interaction_prompt>, a non-JSON body rewritten as JSON', async () => {
    const question = 'What is 6 * 7?'
    const first = callTurn('Compute 6 * 7') + '\nThen I will check it.\n<interaction_prompt>{"name": "prompt", "arguments": {"prompt": "never sent"}}</interaction_prompt>'
    const second = '<think>\nCheck it.\n</think>\n\n<interaction_prompt>\nCheck 6 * 7 é\n</interaction_prompt> and more'
    const policy = new ScriptedPolicy(tokenizer, { [question]: [first, second, answerTurn('42')] })
    const before = env.requests.length
    const { trajectories: [t] } = await runEpisodes({
      policy, environment: environment(), tokenizer, userContents: [userContentForQuestion(question)], options: BATCH_INFERENCE_OPTIONS,
    })

    // the script's own strings, turn by turn
    const content1 = SYSTEM_INSTRUCTION + userContentForQuestion(question) + '\n'
    const response1 = callTurn('Compute 6 * 7') + '<|im_end|>'
    const content2 = content1 + response1 + toolResponse(toolContentForAnswer('6 * 7 = 42'))
    const response2 = '<think>\nCheck it.\n</think>\n\n<interaction_prompt>\n{"name": "prompt", "arguments": {"prompt": "Check 6 * 7 \\u00e9"}}\n</interaction_prompt><|im_end|>'
    const content3 = content2 + response2 + toolResponse(toolContentForAnswer('6 * 7 = 42'))
    expect(env.requests.slice(before).map((r) => r.messages.at(-1)!.content)).toEqual(['Compute 6 * 7', 'Check 6 * 7 é'])
    expect(policy.batches.map((batch) => batch[0])).toEqual([rendered(content1), rendered(content2), rendered(content3)])
    // the tokens are the ones the script's text encodes to, sampled where the script kept the sampled text
    expect(t.tokens).toEqual(tokenizer.encode(`<|im_start|>user\n${content3}` + answerTurn('42') + '<|im_end|>'))
    expect(t.retokenizationMatches).toBe(true)
    expect(t).toMatchObject({ endReason: 'answer', answer: '42' })
    expect(t.turns.map((turn) => turn.kind)).toEqual(['call', 'call', 'answer'])
    expect(t.turns[0].text).toBe(callTurn('Compute 6 * 7'))
    // Mask 1 only on what the agent sampled as it stands: the first turn up to the token that
    // crosses the cut (">\n", encoded again as ">"), none of the rewritten second turn, the answer.
    const kept = tokenizer.encode(callTurn('Compute 6 * 7')).length - 1
    const answerTokens = tokenizer.encode(answerTurn('42')).length
    expect(t.lossMask.slice(0, kept).every((m) => m === 1)).toBe(true)
    expect(t.lossMask.slice(kept, -answerTokens - 1).every((m) => m === 0)).toBe(true)
    expect(t.lossMask.slice(-answerTokens - 1)).toEqual([...new Array(answerTokens).fill(1), 0])
  })

  it('plays up to 10 turns (batch_inference.py) or 5 (inference.py), 8192 tokens each', async () => {
    const question = 'Loop?'
    const turns = Array.from({ length: 12 }, (_, i) => callTurn(`Step ${i}: 1 + ${i}`))
    for (const [options, limit] of [[BATCH_INFERENCE_OPTIONS, 10], [INFERENCE_OPTIONS, 5]] as const) {
      const policy = new ScriptedPolicy(tokenizer, { [question]: turns })
      const seen: number[] = []
      const counting: Policy = { generate: (contexts, o) => { seen.push(o.maxNewTokens); return policy.generate(contexts, o) } }
      const { trajectories: [t] } = await runEpisodes({ policy: counting, environment: environment(), tokenizer, userContents: [userContentForQuestion(question)], options })
      expect(t).toMatchObject({ endReason: 'turn-limit', answer: '' })
      expect(t.turns).toHaveLength(limit)
      expect(seen).toEqual(new Array(limit).fill(8192))
    }
  })
})
})
