// The built-in environment LLM: one that computes the arithmetic in the prompt it receives
// ("7 - 3" -> "7 - 3 = 4") and answers anything else with a sentence saying so. It needs no network
// and no key, so the sample agent (builtin:arithmetic-agent) can be trained, evaluated and chatted
// with on a machine that reaches nothing. It is the environment of the learning check too, where
// test/protocol/deterministic-arithmetic-env.ts serves the same answers over HTTP.
import type { ChatMessage, Environment, EnvironmentAnswer } from './environment.ts'

export const BUILTIN_ENVIRONMENTS = ['arithmetic'] as const
export type BuiltinEnvironmentName = (typeof BUILTIN_ENVIRONMENTS)[number]

export function arithmeticAnswer(prompt: string): string {
  const match = /(-?\d+)\s*([-+*/])\s*(-?\d+)/.exec(prompt)
  if (!match) return 'I can only compute arithmetic like "12 * 3".'
  const [a, op, b] = [Number(match[1]), match[2], Number(match[3])]
  const result = op === '+' ? a + b : op === '-' ? a - b : op === '*' ? a * b : a / b
  return `${a} ${op} ${b} = ${result}`
}

const words = (text: string) => text.split(/\s+/).filter(Boolean).length

/** Answers the last user message; usage counts words, as the HTTP twin reports them. */
export class ArithmeticEnvironment implements Environment {
  async complete(messages: ChatMessage[], signal?: AbortSignal): Promise<EnvironmentAnswer> {
    signal?.throwIfAborted()
    const content = arithmeticAnswer(messages.findLast((m) => m.role === 'user')?.content ?? '')
    return { content, usage: { promptTokens: messages.reduce((sum, m) => sum + words(m.content), 0), completionTokens: words(content) } }
  }
}

export function builtinEnvironment(name: BuiltinEnvironmentName): Environment {
  switch (name) {
    case 'arithmetic': return new ArithmeticEnvironment()
  }
}
