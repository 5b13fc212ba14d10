// The first-turn context and the feedback text, byte for byte against PROTOCOL.md and the shipped
// data, and their tokenization with the real Qwen3 tokenizer.
import { Template } from '@huggingface/jinja'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { loadPublishedDataset } from '../../datasets/index.ts'
import { cutToolContent, feedbackText, toolContentForAnswer } from '../../shared/protocol/feedback.ts'
import { pyJsonString, pySplit, pyStrip } from '../../shared/protocol/python.ts'
import {
  ENVIRONMENT_SYSTEM_PROMPT, INSTRUCTION, PROMPT_R1_CHAT_TEMPLATE, firstTurnText, questionFromUserContent, userContentForQuestion,
} from '../../shared/protocol/template.ts'
import { qwen3Tokenizer } from './qwen3-tokenizer.ts'

const PROTOCOL = readFileSync(new URL('../../../shared/PROTOCOL.md', import.meta.url), 'utf8')
const fenced = (heading: string) => {
  const section = PROTOCOL.slice(PROTOCOL.indexOf(heading))
  return /```\n([\s\S]*?)```/.exec(section)![1]
}

describe('first-turn context', () => {
  it('renders a shipped row to the exact text of PROTOCOL.md', async () => {
    const [row] = await loadPublishedDataset('gsm8k', 'jsonl')
    const systemBlock = fenced('## Agent context, first turn').replace(/\n$/, '') // the fence ends the block with a newline
    const expected = `${systemBlock}\n<|im_start|>user\n${row.content}<|im_end|>\n<|im_start|>assistant\n`
    expect(firstTurnText(row.content)).toBe(expected)
    expect(systemBlock).toContain('You are a great assistant. \n') // the trailing space PROTOCOL.md points out
    expect(firstTurnText(row.content)).not.toContain('<|im_start|>assistant\n<think>') // no <think> prefill on the first turn
  })

  it('tokenizes with <|im_start|> = 151644 and <|im_end|> = 151645', async () => {
    const tokenizer = await qwen3Tokenizer()
    const [row] = await loadPublishedDataset('hotpot', 'parquet')
    const ids = tokenizer.encode(firstTurnText(row.content))
    expect(tokenizer.imStartId).toBe(151644)
    expect(tokenizer.imEndId).toBe(151645)
    expect(tokenizer.padId).toBe(151643)
    expect(ids.filter((id) => id === 151644)).toHaveLength(3)
    expect(ids.filter((id) => id === 151645)).toHaveLength(2)
    expect(ids.slice(0, 3)).toEqual([151644, tokenizer.encode('system')[0], tokenizer.encode('\n')[0]])
    expect(tokenizer.decode(ids)).toBe(firstTurnText(row.content))
  })

  it('builds the same content for a bare question as every shipped row carries', async () => {
    for (const name of ['gsm8k', 'PopQA', 'validation']) {
      for (const row of await loadPublishedDataset(name, 'jsonl')) {
        expect(userContentForQuestion(row.question)).toBe(row.content)
      }
    }
    expect(INSTRUCTION).toMatch(/^First, provide a simple explanation of the question/)
    expect(questionFromUserContent(userContentForQuestion('What is 2+2?'))).toBe('What is 2+2?')
    expect(questionFromUserContent('Question: q\nAnother instruction')).toBe('q\nAnother instruction')
  })

  it('gives the environment the published system text, trailing space included', () => {
    expect(PROTOCOL).toContain('`"' + ENVIRONMENT_SYSTEM_PROMPT + '"`')
    expect(ENVIRONMENT_SYSTEM_PROMPT.endsWith('question. ')).toBe(true)
  })
})

describe('the Prompt-R1 chat template', () => {
  it('renders, through a Jinja engine, the first turn exactly as the protocol builds it', () => {
    const content = userContentForQuestion('Who wrote "Dune"?')
    const render = (messages: { role: string; content: string }[], add_generation_prompt: boolean) =>
      new Template(PROMPT_R1_CHAT_TEMPLATE).render({ messages, add_generation_prompt })
    expect(render([{ role: 'user', content }], true)).toBe(firstTurnText(content))
    // later turns follow in the same chat format; the fixed system block is never replaced
    const history = render([{ role: 'system', content: 'ignored' }, { role: 'user', content }, { role: 'assistant', content: '<think>x</think>' }], false)
    expect(history).toBe(firstTurnText(content).replace(/<\|im_start\|>assistant\n$/, '') + '<|im_start|>assistant\n<think>x</think><|im_end|>\n')
  })
})

describe('feedback', () => {
  it('is the exact text of PROTOCOL.md around the tool content', () => {
    const published = fenced('## Feeding the answer back').trim().replaceAll('\\n', '\n')
    const content = toolContentForAnswer('4')
    expect(feedbackText(content, true)).toBe(published.replace('{content}', content))
    expect(feedbackText(content, false)).toBe(published.replace('{content}', content).slice('<|im_end|>'.length))
  })

  it('escapes the answer as Python json.dumps does', () => {
    // Expected strings written from Python 3: json.dumps({"results": [s]}).
    expect(toolContentForAnswer('café')).toBe('{"results": ["caf\\u00e9"]}')
    expect(toolContentForAnswer('😀 "q" \\ \n\t\u0001\u007f')).toBe('{"results": ["\\ud83d\\ude00 \\"q\\" \\\\ \\n\\t\\u0001\\u007f"]}')
    expect(toolContentForAnswer('日本')).toBe('{"results": ["\\u65e5\\u672c"]}')
    expect(pyJsonString('a/b')).toBe('"a/b"')
  })

  it('cuts the content to the configured length and appends "..."', () => {
    const content = toolContentForAnswer('x'.repeat(3000))
    expect(cutToolContent(content, 2048)).toBe(content.slice(0, 2048) + '...')
    expect(cutToolContent(content, content.length)).toBe(content)
    // Python counts code points: an astral character is one.
    expect(cutToolContent('😀😀😀', 2)).toBe('😀😀...')
  })

  it('strips and splits white space as Python does', () => {
    expect(pyStrip('\u001c\u0085 answer \u3000')).toBe('answer')
    expect(pyStrip('\ufeffanswer')).toBe('\ufeffanswer') // not white space to Python
    expect(pySplit('  a \t b\u00a0c  ')).toEqual(['a', 'b', 'c'])
    expect(pySplit(' \n ')).toEqual([])
  })
})
