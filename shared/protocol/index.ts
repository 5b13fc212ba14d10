// The Prompt-R1 protocol (../shared/PROTOCOL.md) as a library: templates, parsing, feedback, the
// episode runner, the environment client, rewards and metrics. See docs/protocol.md.
export * from './template.ts'
export * from './options.ts'
export * from './parse.ts'
export * from './feedback.ts'
export * from './tokenizer.ts'
export * from './environment.ts'
export * from './episode.ts'
export * from './reward.ts'
export * from './metrics.ts'
