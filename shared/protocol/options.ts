// The protocol's knobs. The defaults are the published training configuration; every departure
// from the published behaviour is a named option documented in docs/protocol.md.

/**
 * How the agent's context is laid out. 'turns' (published training): a system block, the user's
 * block, then the agent's turns and the tool answers as chat turns, each appended as it comes.
 * 'one-user-message' (published inference scripts, which call the agent through vLLM's chat API):
 * the whole context, the agent's system block written out as text, sent as one user message; each
 * turn the agent's processed text and the tool answer are appended inside that message.
 */
export type ContextLayout = 'turns' | 'one-user-message'

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
  /** Accept a non-JSON <interaction_prompt> body as the prompt text itself (published inference scripts). */
  lenientToolBody: boolean
  /**
   * Insert the feedback's leading <|im_end|> even after a sampled <|im_end|>, giving two in a row
   * (published training and inference). Off: one <|im_end|> closes each agent turn.
   */
  doubledImEnd: boolean
  layout: ContextLayout
}

export const TRAINING_OPTIONS: ProtocolOptions = {
  maxTurns: 5,
  maxNewTokensPerTurn: 1024,
  maxContextTokens: 8192,
  maxResponseTokens: 8192,
  maxToolResponseLength: 2048,
  lenientToolBody: false,
  doubledImEnd: false,
  layout: 'turns',
}

/**
 * The published inference.py (one question): vLLM's chat API with temperature 0.7, top_p 0.8 and
 * max_tokens 8192, at most 5 turns. The scripts have no token limit of their own besides the
 * model's 40960 positions (batch_inference.py stops a row once its estimated prompt tokens plus
 * max_tokens pass them), so the context limit is 40960 - 8192 and the response limit never binds
 * before it.
 */
export const INFERENCE_OPTIONS: ProtocolOptions = {
  maxTurns: 5,
  maxNewTokensPerTurn: 8192,
  maxContextTokens: 40960 - 8192,
  maxResponseTokens: 40960,
  maxToolResponseLength: 8192,
  lenientToolBody: true,
  doubledImEnd: true,
  layout: 'one-user-message',
}

/** The published batch_inference.py, which wrote the predictions that eval_scores.py scores: 10 turns. */
export const BATCH_INFERENCE_OPTIONS: ProtocolOptions = { ...INFERENCE_OPTIONS, maxTurns: 10 }

export const PROTOCOL_NAMES = ['training', 'inference', 'batch-inference'] as const
export type ProtocolName = (typeof PROTOCOL_NAMES)[number]

export interface NamedProtocol {
  options: ProtocolOptions
  /** The sampling the protocol uses unless a request or job says otherwise (0: greedy). */
  sampling: { temperature: number; topP: number }
}

export const PROTOCOLS: Record<ProtocolName, NamedProtocol> = {
  // the published validation: greedy
  training: { options: TRAINING_OPTIONS, sampling: { temperature: 0, topP: 1 } },
  inference: { options: INFERENCE_OPTIONS, sampling: { temperature: 0.7, topP: 0.8 } },
  'batch-inference': { options: BATCH_INFERENCE_OPTIONS, sampling: { temperature: 0.7, topP: 0.8 } },
}
