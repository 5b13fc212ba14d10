// The protocol's knobs. The defaults are the published training configuration; every departure
// from the published behaviour is a named option documented in docs/protocol.md.

export interface ProtocolOptions {
  /** Agent generations per episode; each may be followed by one environment call. */
  maxTurns: number
  /** New tokens per agent turn. */
  maxNewTokensPerTurn: number
  /** A turn is not started once the context holds more tokens than this. */
  maxContextTokens: number
  /** The response (everything after the prompt: agent and environment tokens) is cut here. */
  maxResponseTokens: number
  /** Characters of tool content kept before "..." is appended. */
  maxToolResponseLength: number
  /** Accept a non-JSON <interaction_prompt> body as the prompt text itself (published inference script). */
  lenientToolBody: boolean
  /**
   * Insert the feedback's leading <|im_end|> even after a sampled <|im_end|>, giving two in a row
   * (published training). Off: one <|im_end|> closes each agent turn.
   */
  doubledImEnd: boolean
}

export const TRAINING_OPTIONS: ProtocolOptions = {
  maxTurns: 5,
  maxNewTokensPerTurn: 1024,
  maxContextTokens: 8192,
  maxResponseTokens: 8192,
  maxToolResponseLength: 2048,
  lenientToolBody: false,
  doubledImEnd: false,
}

/** The published inference script: longer tool responses, and a non-JSON body taken as the prompt. */
export const INFERENCE_OPTIONS: ProtocolOptions = {
  ...TRAINING_OPTIONS,
  maxToolResponseLength: 8192,
  lenientToolBody: true,
}
