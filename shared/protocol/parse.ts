// Parsing one agent turn (its sampled text, special tokens removed) the way the published tool
// environment does: only the first <interaction_prompt> is executed; without one, the episode ends
// and the first <answer> is the final answer.
import { pyJsonLoads, pyJsonString, pyStrip } from './python.ts'

/** The published error texts; each becomes the tool content and the episode goes on. */
export const TOOL_CALL_ERRORS = {
  jsonDecode: 'Error: JSONDecodeError',
  noToolName: 'Error: No tool name',
  noToolArguments: 'Error: No tool arguments',
  toolNotFound: 'Error: ToolNotFoundError',
  invalidArguments: 'Error: Invalid tool arguments',
  // Not published: where the published environment raises TypeError (a body that is a number, a
  // boolean, a list or string holding both "name" and "arguments", an object whose name is a list
  // or an object) and the run stops, the episode gets this text and goes on.
  typeError: 'Error: TypeError',
} as const

export type ToolCallError = (typeof TOOL_CALL_ERRORS)[keyof typeof TOOL_CALL_ERRORS]

export type AgentTurn =
  | { kind: 'answer'; think: string; answer: string }
  | { kind: 'call'; think: string; body: string; prompt: string }
  | { kind: 'invalid-call'; think: string; body: string; error: ToolCallError }

const INTERACTION_PROMPT = /<interaction_prompt>([\s\S]*?)<\/interaction_prompt>/
const ANSWER = /<answer>([\s\S]*?)<\/answer>/

/** The first <answer> of a text, trimmed as Python's strip() does; "" when there is none. */
export function extractAnswer(text: string): string {
  const match = ANSWER.exec(text)
  return match ? pyStrip(match[1]) : ''
}

/** The agent's reasoning: the text before </think> (later turns start inside a prefilled <think>). */
function thinkText(text: string): string {
  const end = text.indexOf('</think>')
  if (end < 0) return ''
  const start = text.lastIndexOf('<think>', end)
  return pyStrip(text.slice(start < 0 ? 0 : start + '<think>'.length, end))
}

export function parseAgentTurn(text: string, options: { lenientToolBody: boolean }): AgentTurn {
  const think = thinkText(text)
  const call = INTERACTION_PROMPT.exec(text)
  if (!call) return { kind: 'answer', think, answer: extractAnswer(text) }
  const body = call[1]
  const result = toolCallPrompt(body, options.lenientToolBody)
  return typeof result === 'string'
    ? { kind: 'call', think, body, prompt: result }
    : { kind: 'invalid-call', think, body, error: result.error }
}

/**
 * `key in value` as Python evaluates it on what json.loads returns: a dict's keys, a list's items, a
 * str's substrings; numbers and booleans raise TypeError (null never gets here).
 */
function pyIn(key: string, value: unknown): boolean | 'TypeError' {
  if (typeof value === 'string') return value.includes(key)
  if (Array.isArray(value)) return value.includes(key)
  if (typeof value === 'object' && value !== null) return Object.hasOwn(value, key)
  return 'TypeError'
}

/**
 * The prompt of a tool call body, or its error, checked in the published order (the environment's
 * batch_step): the body through json.loads; null is the published code's own mark of a failed parse.
 */
function toolCallPrompt(body: string, lenient: boolean): string | { error: ToolCallError } {
  let call: unknown
  try {
    call = pyJsonLoads(body)
  } catch {
    return lenient ? pyStrip(body) : { error: TOOL_CALL_ERRORS.jsonDecode }
  }
  if (call === null) return { error: TOOL_CALL_ERRORS.jsonDecode }
  const hasName = pyIn('name', call)
  if (hasName === 'TypeError') return { error: TOOL_CALL_ERRORS.typeError }
  if (!hasName) return { error: TOOL_CALL_ERRORS.noToolName }
  if (!pyIn('arguments', call)) return { error: TOOL_CALL_ERRORS.noToolArguments }
  // call["name"] of a list or a str, and a list or dict name looked up in the tool map, raise TypeError
  if (typeof call !== 'object' || Array.isArray(call)) return { error: TOOL_CALL_ERRORS.typeError }
  const { name, arguments: args } = call as { name: unknown; arguments: unknown }
  if (typeof name === 'object' && name !== null) return { error: TOOL_CALL_ERRORS.typeError }
  if (name !== 'prompt') return { error: TOOL_CALL_ERRORS.toolNotFound }
  // The tool's JSON schema: an object whose required "prompt" is a string (other keys allowed).
  if (typeof args !== 'object' || args === null || Array.isArray(args) || typeof (args as { prompt?: unknown }).prompt !== 'string') {
    return { error: TOOL_CALL_ERRORS.invalidArguments }
  }
  return (args as { prompt: string }).prompt
}

const CALL_END = '</interaction_prompt>'

/**
 * An agent turn as the published inference scripts rewrite it before it enters the context
 * (process_tool_call): each <interaction_prompt> body that json.loads refuses becomes the JSON call
 * that takes it as the prompt, and a text holding an <interaction_prompt> loses everything after
 * its first </interaction_prompt>.
 */
export function inferenceScriptTurnText(text: string): string {
  let processed = text
  for (const match of text.matchAll(new RegExp(INTERACTION_PROMPT, 'g'))) {
    const body = pyStrip(match[1])
    try {
      pyJsonLoads(body)
      continue
    } catch {
      const call = `{"name": "prompt", "arguments": {"prompt": ${pyJsonString(body)}}}`
      processed = processed.replaceAll(match[0], () => `<interaction_prompt>\n${call}\n${CALL_END}`)
    }
  }
  if (!processed.includes('<interaction_prompt>')) return processed
  const end = processed.indexOf(CALL_END)
  return end < 0 ? processed : processed.slice(0, end + CALL_END.length)
}
