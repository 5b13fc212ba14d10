// Readers for Prompt-R1 datasets: verl parquet, JSONL in the same schema, and plain JSONL
// {question, golds}. Every row is validated; a bad row becomes a problem (row, field, reason) and
// never an exception, so an upload of arbitrary bytes gets a report instead of a crash.
import { readFile } from 'node:fs/promises'
import { parquetMetadata, parquetReadObjects } from 'hyparquet'
import { questionFromUserContent, userContentForQuestion } from '../shared/protocol/template.ts'
import { unstorable } from '../shared/text.ts'

export type DatasetFormat = 'jsonl' | 'parquet'

export interface DatasetRow {
  /** Position among the file's records, from 0. */
  index: number
  /** verl's data_source ("" for plain rows without one). */
  dataSource: string
  /** The bare question, without "Question: " and the instruction. */
  question: string
  /** The agent's first user message: "Question: " + question + "\n" + instruction. */
  content: string
  /** The gold answers (at least one). */
  golds: string[]
}

export interface DatasetProblem {
  /** The line number in JSONL, the row number (from 1) in parquet; 0 for the file as a whole. */
  row: number
  /** Path of the offending field, e.g. "reward_model.ground_truth[2]", or "file" / "line". */
  field: string
  reason: string
}

export interface DatasetReport {
  format: DatasetFormat
  /** Records found in the file, valid or not. */
  rowCount: number
  problems: DatasetProblem[]
  /** The first few valid rows, to show an uploader what was understood. */
  sample: DatasetRow[]
}

const SAMPLE_SIZE = 3

export async function readDataset(
  source: Uint8Array | string,
  format: DatasetFormat = formatFromPath(source),
): Promise<{ rows: DatasetRow[]; report: DatasetReport }> {
  const bytes = typeof source === 'string' ? new Uint8Array(await readFile(source)) : source
  const rows: DatasetRow[] = []
  const report = await scanDataset(bytes, format, (row) => rows.push(row))
  return { rows, report }
}

/**
 * Validation for uploads: never throws, whatever the bytes, and keeps no rows but the sample.
 * JSONL is read as it arrives, one record at a time; parquet needs its footer first, so its bytes
 * are gathered and then read one row group at a time.
 */
export async function validateDataset(source: Uint8Array | AsyncIterable<Uint8Array>, format: DatasetFormat): Promise<DatasetReport> {
  try {
    const input = format === 'parquet' && !(source instanceof Uint8Array) ? await gather(source) : source
    return await scanDataset(input, format, () => {})
  } catch (error) {
    // Only a bug in a reader can land here; report it rather than fail the upload route.
    return { format, rowCount: 0, problems: [{ row: 0, field: 'file', reason: String(error) }], sample: [] }
  }
}

// Every record once, in order, each valid row handed to `onRow` as it is read: a caller that keeps
// nothing holds one record (JSONL) or one row group (parquet) at a time, not the file's rows.
async function scanDataset(source: Uint8Array | AsyncIterable<Uint8Array>, format: DatasetFormat, onRow: (row: DatasetRow) => void): Promise<DatasetReport> {
  const problems: DatasetProblem[] = []
  const sample: DatasetRow[] = []
  let rowCount = 0
  const records = format === 'parquet' ? parquetRecords(source as Uint8Array) : jsonlRecords(source instanceof Uint8Array ? [source] : source)
  for await (const record of records) {
    if ('problem' in record) {
      problems.push(record.problem)
      continue
    }
    const parsed = datasetRow(record.value, rowCount++, record.row, problems)
    if (!parsed || !storable(parsed, record.row, problems)) continue
    if (sample.length < SAMPLE_SIZE) sample.push(parsed)
    onRow(parsed)
  }
  return { format, rowCount, problems, sample }
}

function formatFromPath(source: Uint8Array | string): DatasetFormat {
  if (typeof source === 'string' && source.endsWith('.parquet')) return 'parquet'
  if (typeof source === 'string' && source.endsWith('.jsonl')) return 'jsonl'
  throw new Error('readDataset: give the format for bytes or for a path not ending in .parquet or .jsonl')
}

async function gather(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const chunk of chunks) parts.push(chunk.slice())
  return concat(parts)
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const part of parts) { out.set(part, at); at += part.length }
  return out
}

type DatasetRecord = { row: number; value: unknown } | { problem: DatasetProblem }

// Lines across chunk boundaries; only the line being read is held.
async function* jsonlRecords(chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): AsyncGenerator<DatasetRecord> {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })
  const record = (bytes: Uint8Array, line: number): DatasetRecord | undefined => {
    let text: string
    try {
      text = decoder.decode(bytes)
    } catch {
      return { problem: { row: line, field: 'line', reason: 'not valid UTF-8' } }
    }
    if (text.trim() === '') return undefined // blank lines (the final newline included) are not records
    try {
      return { row: line, value: JSON.parse(text) }
    } catch (error) {
      return { problem: { row: line, field: 'line', reason: `not valid JSON (${(error as Error).message})` } }
    }
  }
  let line = 1
  let carried: Uint8Array[] = [] // the start of the current line, from earlier chunks
  for await (const chunk of chunks) {
    let start = 0
    for (let end = chunk.indexOf(0x0a); end >= 0; end = chunk.indexOf(0x0a, start)) {
      const found = record(concat([...carried, chunk.subarray(start, end)]), line++)
      carried = []
      start = end + 1
      if (found) yield found
    }
    // a copy: a stream may reuse its chunk's memory
    if (start < chunk.length) carried.push(chunk.slice(start))
  }
  const last = record(concat([...carried, new Uint8Array(0)]), line)
  if (last) yield last
}

// One row group at a time
async function* parquetRecords(bytes: Uint8Array): AsyncGenerator<DatasetRecord> {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
  let groups: { rowStart: number; rowEnd: number }[]
  try {
    let rowStart = 0
    groups = parquetMetadata(file).row_groups.map((group) => {
      const range = { rowStart, rowEnd: rowStart + Number(group.num_rows) }
      rowStart = range.rowEnd
      return range
    })
  } catch (error) {
    yield { problem: { row: 0, field: 'file', reason: `not a readable parquet file (${(error as Error).message})` } }
    return
  }
  for (const { rowStart, rowEnd } of groups) {
    let objects: unknown[]
    try {
      objects = await parquetReadObjects({ file, rowStart, rowEnd })
    } catch (error) {
      yield { problem: { row: rowStart + 1, field: 'file', reason: `not a readable parquet file (${(error as Error).message})` } }
      return
    }
    for (const [i, value] of objects.entries()) yield { row: rowStart + i + 1, value }
  }
}

// Rows end up in Postgres (the upload's sample, evaluation results).
function storable(row: DatasetRow, line: number, problems: DatasetProblem[]): boolean {
  const fields: [string, string][] = [['question', row.question], ['data_source', row.dataSource], ...row.golds.map((g, i): [string, string] => [`golds[${i}]`, g])]
  for (const [field, text] of fields) {
    const why = unstorable(text)
    if (why) {
      problems.push({ row: line, field, reason: `${why}, which cannot be stored` })
      return false
    }
  }
  return true
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** One record as a row, or null after pushing its problems. */
function datasetRow(value: unknown, index: number, row: number, problems: DatasetProblem[]): DatasetRow | null {
  const problemsBefore = problems.length
  const problem = (field: string, reason: string) => problems.push({ row, field, reason })
  if (!isObject(value)) {
    problem('row', 'is not a JSON object')
    return null
  }
  if ('prompt' in value) return verlRow(value, index, row, problems)
  if (!('question' in value)) {
    problem('row', 'has neither "prompt" (verl schema) nor "question" (plain schema)')
    return null
  }
  const question = value.question
  if (typeof question !== 'string' || question.trim() === '') problem('question', 'must be a non-empty string')
  const golds = goldAnswers(value.golds, 'golds', problem)
  const dataSource = value.data_source ?? ''
  if (typeof dataSource !== 'string') problem('data_source', 'must be a string')
  if (problems.length > problemsBefore) return null
  return { index, dataSource: dataSource as string, question: question as string, content: userContentForQuestion(question as string), golds: golds! }
}

function verlRow(value: Record<string, unknown>, index: number, row: number, problems: DatasetProblem[]): DatasetRow | null {
  const problemsBefore = problems.length
  const problem = (field: string, reason: string) => problems.push({ row, field, reason })
  const dataSource = value.data_source
  if (typeof dataSource !== 'string') problem('data_source', 'must be a string')
  const prompt = value.prompt
  let content: unknown
  if (!Array.isArray(prompt) || prompt.length !== 1) {
    problem('prompt', 'must be a list of exactly one message')
  } else if (!isObject(prompt[0]) || prompt[0].role !== 'user') {
    problem('prompt[0].role', 'must be "user"')
  } else {
    content = prompt[0].content
    if (typeof content !== 'string' || content.trim() === '') problem('prompt[0].content', 'must be a non-empty string')
  }
  const rewardModel = value.reward_model
  let golds: string[] | null = null
  if (!isObject(rewardModel)) problem('reward_model', 'must be an object with ground_truth')
  else golds = goldAnswers(rewardModel.ground_truth, 'reward_model.ground_truth', problem)
  if (problems.length > problemsBefore) return null
  const text = content as string
  return { index, dataSource: dataSource as string, question: questionFromUserContent(text), content: text, golds: golds! }
}

/** Gold answers: a list of strings, or one string (verl allows both); never empty. */
function goldAnswers(value: unknown, field: string, problem: (field: string, reason: string) => void): string[] | null {
  if (typeof value === 'string') return [value]
  if (!Array.isArray(value) || value.length === 0) {
    problem(field, 'must be a non-empty list of strings')
    return null
  }
  const bad = value.findIndex((gold) => typeof gold !== 'string')
  if (bad >= 0) {
    problem(`${field}[${bad}]`, 'must be a string')
    return null
  }
  return value as string[]
}
