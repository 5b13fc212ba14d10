// Python string semantics that the published code relies on, so that scores and texts match it
// character for character: str.isspace()/str.strip()/str.split(), json.dumps' ASCII escaping, and
// the `\w` and `$` of Python's re module.

// The characters for which Python's str.isspace() is true (wider than JavaScript's \s: it has
// \x1c-\x1f and \x85, and lacks \ufeff).
export const PY_SPACE = '[\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]'
// Python's re `\w` on str: letters, numbers (str.isalnum()) and the underscore.
export const PY_WORD = '[\\p{L}\\p{N}_]'

const LEADING_SPACE = new RegExp(`^${PY_SPACE}+`)
const TRAILING_SPACE = new RegExp(`${PY_SPACE}+$`)
const SPACE_RUNS = new RegExp(`${PY_SPACE}+`)

/** Python's str.strip() with no argument. */
export function pyStrip(text: string): string {
  return text.replace(LEADING_SPACE, '').replace(TRAILING_SPACE, '')
}

/** Python's str.split() with no argument: split on runs of white space, no empty pieces. */
export function pySplit(text: string): string[] {
  const stripped = pyStrip(text)
  return stripped === '' ? [] : stripped.split(SPACE_RUNS)
}

/**
 * A string as Python's json.dumps writes it by default (ensure_ascii=True): every character outside
 * printable ASCII as a lower-case \uXXXX escape (astral characters as their surrogate pair).
 */
export function pyJsonString(text: string): string {
  // JSON.stringify already escapes quotes, backslashes and control characters as Python does;
  // what is left outside printable ASCII is DEL and non-ASCII, one UTF-16 unit at a time.
  return JSON.stringify(text).replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'))
}

// Python's json.loads reads three literals that JSON.parse refuses: NaN, Infinity and -Infinity.
// Outside strings they become a number literal of the same kind (what a caller can tell apart is
// only that the value is a number), padded with spaces so that it cannot join a neighbouring token.
const PY_JSON_LITERALS = /"(?:[^"\\]|\\.)*"?|-Infinity|Infinity|NaN/gs

/**
 * Python's json.loads(text): JSON.parse, plus NaN, Infinity and -Infinity (as numbers). Throws a
 * SyntaxError where json.loads raises JSONDecodeError.
 */
export function pyJsonLoads(text: string): unknown {
  // ("-NaN" is no literal to Python, and "- 1e999 " none to JSON.parse)
  return JSON.parse(text.replace(PY_JSON_LITERALS, (token) => (token.startsWith('"') ? token : token === '-Infinity' ? ' -1e999 ' : ' 1e999 ')))
}

/**
 * Python's str() of a value json.loads made: None, True and False; an integer as its digits; a
 * float as Python's repr writes it (exponent below 1e-4 and from 1e16, two exponent digits); a
 * string as itself; lists and dicts as their repr. (JSON.parse keeps no difference between 1 and
 * 1.0: both are written "1".)
 */
export function pyStr(value: unknown): string {
  return typeof value === 'string' ? value : pyRepr(value)
}

function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None'
  if (typeof value === 'boolean') return value ? 'True' : 'False'
  if (typeof value === 'number') return pyFloatRepr(value)
  if (typeof value === 'string') {
    const quote = value.includes("'") && !value.includes('"') ? '"' : "'"
    return quote + value.replace(/\\/g, '\\\\').replace(new RegExp(quote, 'g'), `\\${quote}`).replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t') + quote
  }
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`
  return `{${Object.entries(value as object).map(([k, v]) => `${pyRepr(k)}: ${pyRepr(v)}`).join(', ')}}`
}

function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan'
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf'
  if (Number.isInteger(x) && Math.abs(x) < 1e16) return String(x)
  // the shortest digits that round-trip (as Python's repr), placed by Python's rule
  const [mantissa, exponentText] = x.toExponential().split('e')
  const exponent = Number(exponentText)
  if (exponent < -4 || exponent >= 16) return `${mantissa}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`
  const sign = x < 0 ? '-' : ''
  const digits = mantissa.replace('-', '').replace('.', '')
  const point = exponent + 1
  const fixed = point <= 0 ? `0.${'0'.repeat(-point)}${digits}` : point >= digits.length ? `${digits}${'0'.repeat(point - digits.length)}.0` : `${digits.slice(0, point)}.${digits.slice(point)}`
  return sign + fixed
}
