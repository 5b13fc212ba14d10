// Parsing one agent turn: the first <interaction_prompt> body, its JSON checks and their published
// error texts, and the final <answer>.
import { describe, expect, it } from 'vitest'
import { TOOL_CALL_ERRORS, extractAnswer, parseAgentTurn } from '../../shared/protocol/parse.ts'

const strict = { lenientToolBody: false }
const call = (body: string) => `<think>\nplan\n</think>\n\n<interaction_prompt>${body}</interaction_prompt>`

describe('parseAgentTurn', () => {
  it('reads a valid call, keeping its prompt as written', () => {
    const turn = parseAgentTurn(call('\n{"name": "prompt", "arguments": {"prompt": "  What is 2 + 2?\\n"}}\n'), strict)
    expect(turn).toEqual({ kind: 'call', think: 'plan', body: '\n{"name": "prompt", "arguments": {"prompt": "  What is 2 + 2?\\n"}}\n', prompt: '  What is 2 + 2?\n' })
  })

  it('executes only the first call, across lines', () => {
    const text = call('{"name": "prompt",\n "arguments": {"prompt": "first"}}') + call('{"name": "prompt", "arguments": {"prompt": "second"}}')
    expect(parseAgentTurn(text, strict)).toMatchObject({ kind: 'call', prompt: 'first' })
  })

  it.each([
    ['not json', TOOL_CALL_ERRORS.jsonDecode],
    ['{"name": "prompt", "arguments": {"prompt": "x"}', TOOL_CALL_ERRORS.jsonDecode],
    ['{"arguments": {"prompt": "x"}}', TOOL_CALL_ERRORS.noToolName],
    ['["prompt"]', TOOL_CALL_ERRORS.noToolName],
    ['{"name": "prompt"}', TOOL_CALL_ERRORS.noToolArguments],
    ['{"name": "search", "arguments": {"prompt": "x"}}', TOOL_CALL_ERRORS.toolNotFound],
    ['{"name": "prompt", "arguments": {"query": "x"}}', TOOL_CALL_ERRORS.invalidArguments],
    ['{"name": "prompt", "arguments": {"prompt": 42}}', TOOL_CALL_ERRORS.invalidArguments],
    ['{"name": "prompt", "arguments": "x"}', TOOL_CALL_ERRORS.invalidArguments],
  ])('%s -> %s', (body, error) => {
    expect(parseAgentTurn(call(body), strict)).toMatchObject({ kind: 'invalid-call', error })
  })

  it('has the published error texts', () => {
    expect(Object.values(TOOL_CALL_ERRORS)).toEqual([
      'Error: JSONDecodeError', 'Error: No tool name', 'Error: No tool arguments', 'Error: ToolNotFoundError', 'Error: Invalid tool arguments',
    ])
  })

  it('accepts extra arguments, as the JSON schema does', () => {
    expect(parseAgentTurn(call('{"name": "prompt", "arguments": {"prompt": "x", "note": 1}}'), strict)).toMatchObject({ kind: 'call', prompt: 'x' })
  })

  it('with the lenient option, takes a non-JSON body as the prompt text', () => {
    expect(parseAgentTurn(call('\n  Explain 2 + 2.\n'), { lenientToolBody: true })).toMatchObject({ kind: 'call', prompt: 'Explain 2 + 2.' })
    // Valid JSON is still checked.
    expect(parseAgentTurn(call('{"name": "search"}'), { lenientToolBody: true })).toMatchObject({ kind: 'invalid-call' })
  })

  it('without a call, ends with the first answer trimmed, or ""', () => {
    expect(parseAgentTurn('<think>\ndone\n</think>\n<answer>\n 4 \n</answer><answer>5</answer>', strict))
      .toEqual({ kind: 'answer', think: 'done', answer: '4' })
    expect(parseAgentTurn('I think it is 4.', strict)).toEqual({ kind: 'answer', think: '', answer: '' })
    expect(parseAgentTurn('<interaction_prompt>unclosed', strict)).toMatchObject({ kind: 'answer', answer: '' })
  })

  it('reads the think text of a later turn, which starts inside the prefilled <think>', () => {
    expect(parseAgentTurn('The model said 4.\n</think>\n\n<answer>4</answer>', strict)).toMatchObject({ think: 'The model said 4.' })
    expect(extractAnswer('<answer>a\nb</answer>')).toBe('a\nb')
  })
})
