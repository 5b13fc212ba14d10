// A thin wrapper over @huggingface/tokenizers for Hugging Face tokenizer files (tokenizer.json and
// tokenizer_config.json): encoding without added BOS/EOS (the protocol writes every special token
// into the text itself), decoding with special tokens kept, and the ids the protocol needs.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Tokenizer } from '@huggingface/tokenizers'

export class ChatTokenizer {
  private readonly tokenizer: Tokenizer
  /** `<|im_start|>` (151644 in Qwen). */
  readonly imStartId: number
  /** `<|im_end|>` (151645 in Qwen): ends every chat turn. */
  readonly imEndId: number
  /** The pad token (`<|endoftext|>` = 151643 in Qwen), also an end-of-sequence token. */
  readonly padId: number
  /** Tokens that end an agent turn: `<|im_end|>` and the pad/EOS token. */
  readonly stopTokenIds: number[]

  constructor(tokenizerJson: object, tokenizerConfig: Record<string, unknown>) {
    this.tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig)
    this.imStartId = this.tokenId('<|im_start|>')
    this.imEndId = this.tokenId('<|im_end|>')
    const pad = tokenizerConfig.pad_token
    this.padId = this.tokenId(typeof pad === 'string' ? pad : '<|endoftext|>')
    this.stopTokenIds = [this.imEndId, this.padId]
  }

  /** Loads tokenizer.json and tokenizer_config.json from a model folder. */
  static async fromFolder(dir: string): Promise<ChatTokenizer> {
    const [tokenizerJson, tokenizerConfig] = await Promise.all(
      ['tokenizer.json', 'tokenizer_config.json'].map(async (name) => JSON.parse(await readFile(join(dir, name), 'utf8'))),
    )
    return new ChatTokenizer(tokenizerJson, tokenizerConfig)
  }

  /** Text to ids; special tokens written in the text (`<|im_start|>`...) become their ids. */
  encode(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids
  }

  /** Ids to text; special tokens are kept unless asked (an agent turn is parsed without them, as published). */
  decode(ids: number[], options: { skipSpecialTokens?: boolean } = {}): string {
    // (the library refuses an empty list)
    if (ids.length === 0) return ''
    return this.tokenizer.decode(ids, { skip_special_tokens: options.skipSpecialTokens ?? false, clean_up_tokenization_spaces: false })
  }

  tokenId(token: string): number {
    const id = this.tokenizer.token_to_id(token)
    if (id === undefined) throw new Error(`tokenizer has no token ${JSON.stringify(token)}`)
    return id
  }
}
