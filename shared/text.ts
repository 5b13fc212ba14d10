// Postgres text and jsonb cannot hold NUL characters or unpaired UTF-16 surrogates: the one rule for
// request bodies and for uploaded rows (which reach jsonb as an upload's sample and in results).
export function unstorable(text: string): string | undefined {
  if (text.includes('\u0000')) return 'contains a NUL (\\u0000) character'
  if (!text.isWellFormed()) return 'contains an unpaired UTF-16 surrogate'
  return undefined
}
