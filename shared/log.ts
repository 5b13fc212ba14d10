// What a log line may say about a failure. Errors of the database drivers carry the statement's
// parameters (drizzle puts them in the message, postgres.js in properties), and those parameters are
// whatever a caller sent, API keys included: a fault is logged as its names, messages without
// parameters, codes and stack frames, and nothing else.
export function describeFault(error: unknown): string {
  const lines: string[] = []
  let top = true
  for (let e: unknown = error; e !== undefined && e !== null; e = (e as { cause?: unknown }).cause) {
    if (!(e instanceof Error)) {
      lines.push(`${top ? '' : 'caused by: '}a thrown ${typeof e}`)
      break
    }
    const code = (e as { code?: unknown }).code
    // a data exception (SQLSTATE class 22) quotes the value it could not read
    const message = typeof code === 'string' && /^22/.test(code) ? '(message withheld: it quotes the input)' : e.message.split(/\nparams:/)[0]
    lines.push(`${top ? '' : 'caused by: '}${e.name}${typeof code === 'string' ? ` [${code}]` : ''}: ${message}`)
    if (top) lines.push(...(e.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line)).slice(0, 12))
    top = false
  }
  return lines.join('\n')
}
