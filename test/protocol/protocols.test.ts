// The named protocols and what an evaluation job's agent settings resolve to.
import { describe, expect, it } from 'vitest'
import { createEvaluationBody, evalAgentSettings } from '../../shared/job-config.ts'
import { PROTOCOLS } from '../../shared/protocol/options.ts'

const agentOf = (agent: Record<string, unknown>) =>
  createEvaluationBody.parse({ datasets: ['gsm8k'], environment: { base_url: 'https://example.com/v1', model: 'm' }, agent: { model: 'hf:o/n', ...agent } }).agent!

describe('named protocols', () => {
  it('have the published settings', () => {
    expect(PROTOCOLS.training).toMatchObject({ sampling: { temperature: 0, topP: 1 }, options: { layout: 'turns', maxTurns: 5, maxNewTokensPerTurn: 1024, maxContextTokens: 8192, maxToolResponseLength: 2048, lenientToolBody: false } })
    for (const [name, turns] of [['inference', 5], ['batch-inference', 10]] as const) {
      expect(PROTOCOLS[name]).toMatchObject({
        sampling: { temperature: 0.7, topP: 0.8 },
        options: { layout: 'one-user-message', maxTurns: turns, maxNewTokensPerTurn: 8192, maxToolResponseLength: 8192, lenientToolBody: true, doubledImEnd: true },
      })
      expect(PROTOCOLS[name].options.maxContextTokens + PROTOCOLS[name].options.maxNewTokensPerTurn).toBe(40960)
    }
  })

  it("give an evaluated agent the training protocol by default, the job's settings over the protocol's", () => {
    expect(evalAgentSettings(agentOf({}))).toEqual({ options: PROTOCOLS.training.options, temperature: 0, topP: 1 })
    expect(evalAgentSettings(agentOf({ protocol: 'batch-inference' }))).toEqual({ options: PROTOCOLS['batch-inference'].options, temperature: 0.7, topP: 0.8 })
    const set = evalAgentSettings(agentOf({ protocol: 'inference', temperature: 0, max_turns: 3, max_new_tokens_per_turn: 64 }))
    expect(set).toMatchObject({ temperature: 0, topP: 0.8, options: { maxTurns: 3, maxNewTokensPerTurn: 64, layout: 'one-user-message' } })
    expect(() => agentOf({ protocol: 'vllm' })).toThrow(/protocol/)
  })
})
