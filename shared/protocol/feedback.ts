// What the agent reads after an environment call: the tool content, and the text inserted into the
// context around it (environment tokens, loss mask 0).
import { IM_END, IM_START } from './template.ts'
import { pyJsonString } from './python.ts'

/** The tool content for an environment answer: json.dumps({"results": [answer]}) as Python writes it. */
export function toolContentForAnswer(answer: string): string {
  return `{"results": [${pyJsonString(answer)}]}`
}

/** Cut to at most maxLength characters (code points, as Python counts), "..." appended when cut. */
export function cutToolContent(content: string, maxLength: number): string {
  const chars = Array.from(content)
  return chars.length > maxLength ? chars.slice(0, maxLength).join('') + '...' : content
}

/**
 * The text inserted after an agent turn that called the tool. `closeTurn` puts the <|im_end|> that
 * ends the agent's turn in front: always in the published training (doubled <|im_end|>), and by
 * default only when the turn did not already end with a sampled <|im_end|>.
 */
export function feedbackText(toolContent: string, closeTurn: boolean): string {
  return (
    (closeTurn ? IM_END : '') +
    `\n${IM_START}user\n<interaction_response>\n${toolContent}\n</interaction_response>${IM_END}\n${IM_START}assistant\n<think>\n`
  )
}
