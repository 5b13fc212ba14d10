// Parsing one agent turn: the first <interaction_prompt> body, its JSON checks and their published
// error texts, and the final <answer>.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { stdlibPython } from '../helpers/python.ts'
import { TOOL_CALL_ERRORS, extractAnswer, inferenceScriptTurnText, parseAgentTurn } from '../../shared/protocol/parse.ts'
import { seededRandom } from '../../gpu-worker/engine/sampling.ts'

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
    // what Python's json.loads reads and JSON.parse does not, and values that are no object
    ['null', TOOL_CALL_ERRORS.jsonDecode],
    ['-NaN', TOOL_CALL_ERRORS.jsonDecode],
    ['NaN', TOOL_CALL_ERRORS.typeError],
    [' -Infinity ', TOOL_CALL_ERRORS.typeError],
    ['42', TOOL_CALL_ERRORS.typeError],
    ['true', TOOL_CALL_ERRORS.typeError],
    ['"hello"', TOOL_CALL_ERRORS.noToolName],
    ['"my name"', TOOL_CALL_ERRORS.noToolArguments],
    ['"name, arguments"', TOOL_CALL_ERRORS.typeError],
    ['["name"]', TOOL_CALL_ERRORS.noToolArguments],
    ['["name", "arguments"]', TOOL_CALL_ERRORS.typeError],
    ['[1, NaN, Infinity]', TOOL_CALL_ERRORS.noToolName],
    ['{"name": ["prompt"], "arguments": {}}', TOOL_CALL_ERRORS.typeError],
    ['{"name": NaN, "arguments": {}}', TOOL_CALL_ERRORS.toolNotFound],
    ['{"name": null, "arguments": {}}', TOOL_CALL_ERRORS.toolNotFound],
    ['{"name": "prompt", "arguments": {"prompt": Infinity}}', TOOL_CALL_ERRORS.invalidArguments],
    ['{"name": "prompt", "arguments": null}', TOOL_CALL_ERRORS.invalidArguments],
  ])('%s -> %s', (body, error) => {
    expect(parseAgentTurn(call(body), strict)).toMatchObject({ kind: 'invalid-call', error })
  })

  it('has the published error texts', () => {
    expect(Object.values(TOOL_CALL_ERRORS)).toEqual([
      'Error: JSONDecodeError', 'Error: No tool name', 'Error: No tool arguments', 'Error: ToolNotFoundError', 'Error: Invalid tool arguments',
      'Error: TypeError',
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

describe('tool call bodies against the published rules on Python', () => {
  // Bodies made of JSON pieces, Python-only literals and near misses, joined at random, and valid
  // calls with one piece changed: most are errors of some kind, enough of each kind to compare.
  const pieces = ['{', '}', '[', ']', ':', ',', ' ', '\n', '"name"', '"arguments"', '"prompt"', '"x"', '"a name"', '"\\u00e9"', '"\\"',
    'null', 'true', 'false', '0', '-1.5e3', '01', '1e999', 'NaN', '-NaN', 'Infinity', '-Infinity', 'nan', 'inf', '-', '"', '\\', "'x'"]
  const valid = '{"name": "prompt", "arguments": {"prompt": "Explain."}}'
  const random = seededRandom(12)
  const pick = <T,>(xs: T[]) => xs[Math.floor(random() * xs.length)]
  const bodies = [
    ...Array.from({ length: 1500 }, () => Array.from({ length: 1 + Math.floor(random() * 8) }, () => pick(pieces)).join('')),
    ...Array.from({ length: 1500 }, () => {
      const tokens = valid.match(/"[^"]*"|[{}:,\[\] ]/g)!
      tokens[Math.floor(random() * tokens.length)] = pick(pieces)
      return tokens.join('')
    }),
  ]
  const python = stdlibPython('tool call bodies on Python')

  it.skipIf(!python)('give the error text (or prompt) the published environment gives, for 3000 generated bodies', () => {
    const run = spawnSync(python!, [join(import.meta.dirname, '../reference/tool_calls.py')], { input: JSON.stringify(bodies), encoding: 'utf8' })
    expect(run.status, run.stderr).toBe(0)
    const published: string[] = JSON.parse(run.stdout)
    const ours = bodies.map((body) => {
      const turn = parseAgentTurn(call(body), strict)
      return turn.kind === 'call' ? turn.prompt : turn.kind === 'invalid-call' ? turn.error : 'no call'
    })
    const mismatches = bodies.map((body, i) => ({ body, ours: ours[i], published: published[i] })).filter((m) => m.ours !== m.published)
    expect(mismatches.slice(0, 5)).toEqual([])
    // the generator reaches every outcome
    expect(new Set(published).size).toBeGreaterThanOrEqual(Object.keys(TOOL_CALL_ERRORS).length)
  })
})

describe('the inference scripts\' rewrite of a turn against the published rules on Python', () => {
  // Turns of text, think blocks, answers, calls with JSON and non-JSON bodies (repeated, unclosed,
  // with Python's white space and non-ASCII) and stray tags, joined at random.
  const pieces = ['<think>\nplan\n</think>\n\n', 'text ', '\n', '<answer>4</answer>', '<interaction_prompt>', '</interaction_prompt>',
    '<interaction_prompt>{"name": "prompt", "arguments": {"prompt": "x"}}</interaction_prompt>', '<interaction_prompt>\n Explain 2 + 2 \u00e9\n</interaction_prompt>',
    '<interaction_prompt>NaN</interaction_prompt>', '<interaction_prompt>\u3000a "quoted" \\ body\u2028</interaction_prompt>', '<interaction_prompt></interaction_prompt>',
    '<interaction_prompt>$& $1</interaction_prompt>', 'after the call']
  const random = seededRandom(31)
  const turns = Array.from({ length: 2000 }, () => Array.from({ length: 1 + Math.floor(random() * 7) }, () => pieces[Math.floor(random() * pieces.length)]).join(''))
  const python = stdlibPython('the inference scripts\' rewrite on Python')

  it.skipIf(!python)('rewrites 2000 generated turns as the published scripts do', () => {
    const run = spawnSync(python!, [join(import.meta.dirname, '../reference/inference_turn.py')], { input: JSON.stringify(turns), encoding: 'utf8' })
    expect(run.status, run.stderr).toBe(0)
    const published: string[] = JSON.parse(run.stdout)
    const mismatches = turns.map((turn, i) => ({ turn, ours: inferenceScriptTurnText(turn), published: published[i] })).filter((m) => m.ours !== m.published)
    expect(mismatches.slice(0, 5)).toEqual([])
    // the generator reaches rewritten bodies, cut text and untouched turns
    expect(published.filter((text, i) => text !== turns[i] && text.includes('"arguments": {"prompt"')).length).toBeGreaterThan(100)
    expect(published.filter((text, i) => turns[i].startsWith(text) && text !== turns[i]).length).toBeGreaterThan(100)
    expect(published.filter((text, i) => text === turns[i]).length).toBeGreaterThan(100)
  })
})
