// A served agent whose turns are scripted (test/protocol/scripted-policy.ts): the chat route, the
// episode runner, the environment calls and the events are the real ones, only the model is not.
import { answerQuestion } from '../../gpu-worker/agent.ts'
import type { AgentService } from '../../shared/agents.ts'
import { OpenAIEnvironment } from '../../shared/protocol/environment.ts'
import { TRAINING_OPTIONS } from '../../shared/protocol/options.ts'
import type { ChatTokenizer } from '../../shared/protocol/tokenizer.ts'
import { ScriptedPolicy } from '../protocol/scripted-policy.ts'

export const SCRIPTED_QUESTION = 'What is 17 * 23?'
export const SCRIPT = {
  [SCRIPTED_QUESTION]: [
    `<think>\nI will ask the large model.\n</think>\n\n<interaction_prompt>${JSON.stringify({ name: 'prompt', arguments: { prompt: 'Compute 17 * 23.' } })}</interaction_prompt>`,
    'It said 391.\n</think>\n\n<answer>391</answer>',
  ],
}

/** `scripted-agent`, answering SCRIPTED_QUESTION through the environment at `baseURL`. */
export function scriptedAgents(tokenizer: ChatTokenizer, baseURL: string): AgentService {
  return {
    models: async () => [{ id: 'scripted-agent', created: 0, ownedBy: 'prompt-r1' }],
    hasModel: async (_project, model) => model === 'scripted-agent',
    run: async (request) => {
      request.onAccepted?.()
      const environment = new OpenAIEnvironment({ baseURL, apiKey: 'k', model: 'arithmetic', policy: { allowLoopback: true } })
      return answerQuestion({ policy: new ScriptedPolicy(tokenizer, SCRIPT), tokenizer, environment, question: request.question, options: TRAINING_OPTIONS, signal: request.signal, onEvent: request.onEvent })
    },
  }
}
