// The fixed texts of the Prompt-R1 protocol (PROTOCOL.md), byte-exact, and the functions that
// assemble the agent's context from them. Everything here is plain text in Qwen chat format; the
// tokenizer turns it into ids once, and the episode runner never re-tokenizes a growing context.

export const IM_START = '<|im_start|>'
export const IM_END = '<|im_end|>'

// The one-line tool description, as Python's json.dumps wrote it in the published system prompt.
export const PROMPT_TOOL_JSON =
  '{"type": "function", "function": {"name": "prompt", "description": "Give an explanation of the question in detail.", ' +
  '"parameters": {"type": "object", "properties": {"prompt": {"type": "string", "description": "Give question and its explanation"}}, "required": ["prompt"]}}}'

// The agent's system message. Note the trailing space after "great assistant." (published as is).
export const AGENT_SYSTEM_PROMPT = [
  'You are Qwen, created by Alibaba Cloud. You are a great assistant. ',
  '',
  '# Tools',
  '',
  "You can call one or more powerful Large Language Models to answer the user's questions. But you MUST provide the tool with an explanation and analysis of the problem, as well as your thought process.",
  '',
  'You are provided with function signatures within <tools></tools> XML tags:',
  '<tools>',
  PROMPT_TOOL_JSON,
  '</tools>',
  '',
  'For each function call, return a json object with function name and arguments within <interaction_prompt></interaction_prompt> XML tags:',
  '<interaction_prompt>',
  '{"name": <function-name>, "arguments": <args-json-object>}',
  '</interaction_prompt>',
].join('\n')

// The instruction every row of the shipped data carries after its question (note the trailing
// space at the end of rule 3, as published).
export const INSTRUCTION = [
  "First, provide a simple explanation of the question and give it to the large language model for a more accurate answer. Focus on explaining the question without deep reasoning in the first step. After receiving the response, think about the large language model's response, and by interacting with the large language model again and again, arrive at the final answer. Proceed step by step with the following rules:",
  '1. Only in the first step, provide a brief explanation of the question and give it to the large language model:',
  '   <think>(Brief thinking must not be over 80 words)</think>',
  '   <interaction_prompt>(give the question and its explanation to the large language model)</interaction_prompt>',
  '2. After the first step, in each interaction with the large language model, write:',
  '   <think>(your reasoning for the receiving response and question)</think>',
  '   <interaction_prompt>(new request to refine or validate the answer)</interaction_prompt>',
  '3. Each <interaction_prompt> must build on what came before. Do not just repeat the same content. Let the content of the <interaction_prompt>...</interaction_prompt> evolve naturally (for example: outline → add details → refine → check). ',
  '4. Continue producing think within <think></think> and call tool within <interaction_prompt></interaction_prompt> until the answer is ready.',
  '5. Once the answer is complete, write:',
  '   <think>(final reasoning with the <interaction_response> and question)</think>',
  '   <answer>(final answer for the question)</answer>',
].join('\n')

// The environment LLM's system message (trailing space included, as published).
export const ENVIRONMENT_SYSTEM_PROMPT =
  'You are a helpful assistant. Please read the provided content (including previous conversations and the current task) and help the user complete the task or answer the question. '

const QUESTION_PREFIX = 'Question: '

/** The user content of the first turn for a bare question: what every dataset row already holds. */
export function userContentForQuestion(question: string): string {
  return QUESTION_PREFIX + question + '\n' + INSTRUCTION
}

/**
 * The bare question inside a user content built as above. Content of another shape (a user's own
 * verl data with another instruction) is returned as it is, minus a leading "Question: ".
 */
export function questionFromUserContent(content: string): string {
  const withoutPrefix = content.startsWith(QUESTION_PREFIX) ? content.slice(QUESTION_PREFIX.length) : content
  const suffix = '\n' + INSTRUCTION
  return withoutPrefix.endsWith(suffix) ? withoutPrefix.slice(0, -suffix.length) : withoutPrefix
}

/** The rendered first-turn context: system block, user block, generation prompt (no <think> prefill). */
export function firstTurnText(userContent: string): string {
  return (
    `${IM_START}system\n${AGENT_SYSTEM_PROMPT}${IM_END}\n` +
    `${IM_START}user\n${userContent}${IM_END}\n` +
    `${IM_START}assistant\n`
  )
}

// The published inference scripts send the agent one user message: their system_instruction (the
// agent's system block written out as text, ending in their "<|im_start|>\nuser\n", newline and
// all), the row's content and a newline; vLLM wraps it in the model's own Qwen3 chat template.
const ONE_MESSAGE_START = `${IM_START}user\n\n${IM_START}system\n${AGENT_SYSTEM_PROMPT}${IM_END}\n${IM_START}\nuser\n`

/** What closes the one user message and opens the agent's turn: taken off before the agent's
 * processed turn and the tool answer are appended to the message, and put back after them. */
export const ONE_MESSAGE_END = `${IM_END}\n${IM_START}assistant\n`

/** The rendered first-turn context of the 'one-user-message' layout, without ONE_MESSAGE_END. */
export function oneMessageFirstTurnText(userContent: string): string {
  return ONE_MESSAGE_START + userContent + '\n'
}

/**
 * The chat template written into the tokenizer_config.json of the checkpoints the project makes
 * (tiny test models, merged exports): rendering a user message with the generation prompt gives
 * exactly firstTurnText, so a client that applies the checkpoint's own template (transformers,
 * vLLM) builds the context the agent was trained on. The system block is the protocol's, always.
 */
export const PROMPT_R1_CHAT_TEMPLATE =
  `${IM_START}system\n${AGENT_SYSTEM_PROMPT}${IM_END}\n` +
  "{% for message in messages %}{% if message.role != 'system' %}" +
  "{{ '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}" +
  '{% endif %}{% endfor %}' +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
