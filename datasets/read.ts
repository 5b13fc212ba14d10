// Readers for Prompt-R1 datasets: verl parquet, JSONL in the same schema, and plain JSONL
// {question, golds}. Every row is validated; a bad row becomes a problem (row, field, reason) and
// never an exception, so an upload of arbitrary bytes gets a report instead of a crash.
import { readFile } from 'node:fs/promises'
import { parquetMetadata, parquetReadObjects } from 'hyparquet'
import { questionFromUserContent, userContentForQuestion } from '../shared/protocol/template.ts'

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

/** Validation for uploads: never throws, whatever the bytes, and keeps no rows but the sample. */
export async function validateDatasetBytes(bytes: Uint8Array, format: DatasetFormat): Promise<DatasetReport> {
  try {
    return await scanDataset(bytes, format, () => {})
  } catch (error) {
    // Only a bug in a reader can land here; report it rather than fail the upload route.
    return { format, rowCount: 0, problems: [{ row: 0, field: 'file', reason: String(error) }], sample: [] }
  }
}

// Every record once, in order, each valid row handed to `onRow` as it is read: a caller that keeps
// nothing holds one record (JSONL) or one row group (parquet) at a time, not the file's rows.
async function scanDataset(bytes: Uint8Array, format: DatasetFormat, onRow: (row: DatasetRow) => void): Promise<DatasetReport> {
  const problems: DatasetProblem[] = []
  const sample: DatasetRow[] = []
  let rowCount = 0
  for await (const record of format === 'parquet' ? parquetRecords(bytes) : jsonlRecords(bytes)) {
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

type DatasetRecord = { row: number; value: unknown } | { problem: DatasetProblem }

function* jsonlRecords(bytes: Uint8Array): Generator<DatasetRecord> {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })
  let start = 0
  for (let line = 1; start <= bytes.length; line++) {
    let end = bytes.indexOf(0x0a, start)
    if (end < 0) end = bytes.length
    const lineBytes = bytes.subarray(start, end)
    start = end + 1
    let text: string
    try {
      text = decoder.decode(lineBytes)
    } catch {
      yield { problem: { row: line, field: 'line', reason: 'not valid UTF-8' } }
      continue
    }
    if (text.trim() === '') continue // blank lines (the final newline included) are not records
    try {
      yield { row: line, value: JSON.parse(text) }
    } catch (error) {
      yield { problem: { row: line, field: 'line', reason: `not valid JSON (${(error as Error).message})` } }
    }
  }
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

// Rows end up in Postgres (the upload's sample, evaluation results), whose text holds no NUL
// characters and no unpaired surrogates.
function storable(row: DatasetRow, line: number, problems: DatasetProblem[]): boolean {
  const fields: [string, string][] = [['question', row.question], ['data_source', row.dataSource], ...row.golds.map((g, i): [string, string] => [`golds[${i}]`, g])]
  const bad = fields.find(([, text]) => text.includes('\u0000') || !text.isWellFormed())
  if (bad) problems.push({ row: line, field: bad[0], reason: 'contains a NUL character or an unpaired surrogate, which cannot be stored' })
  return !bad
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
