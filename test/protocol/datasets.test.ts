// The dataset readers, the validation report, and the registry of the published files.
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  MissingDatasetError, PUBLISHED_DATASETS, datasetFolders, loadPublishedDataset, readDataset, validateDataset,
} from '../../datasets/index.ts'
import { userContentForQuestion } from '../../shared/protocol/template.ts'

const utf8 = (text: string) => new TextEncoder().encode(text)
// the reference copy beside the repository (the training set is not in it)
const reference = datasetFolders({}).at(-1)!
const inReference = PUBLISHED_DATASETS.filter((d) => d.name !== 'train')

describe('published datasets', () => {
  it('loads all 3,584 rows from parquet and from JSONL with identical content', async () => {
    let total = 0
    for (const dataset of inReference) {
      const fromParquet = await loadPublishedDataset(dataset.name, 'parquet')
      const fromJsonl = await loadPublishedDataset(dataset.name, 'jsonl')
      expect(fromParquet).toHaveLength(dataset.rowCount!)
      expect(fromJsonl).toEqual(fromParquet)
      total += fromParquet.length
    }
    expect(total).toBe(3584)
    expect(PUBLISHED_DATASETS.filter((d) => d.split.startsWith('eval-'))).toHaveLength(12)
  })

  it('extracts the bare question and the golds', async () => {
    const [row] = await loadPublishedDataset('PopQA', 'parquet')
    expect(row).toMatchObject({
      index: 0, dataSource: 'PopQA-256-test', question: "What is Claudio Naranjo's occupation?",
      golds: ['psychiatrist', 'alienist', 'head-shrinker', 'shrinker'],
    })
    expect(row.content).toBe(userContentForQuestion(row.question))
  })

  it('records the sha256 of every published file, matching SHA256SUMS for the parquet ones', async () => {
    const sums = await readFile(join(reference, 'SHA256SUMS'), 'utf8')
    for (const dataset of inReference) {
      expect(sums).toContain(`${dataset.sha256.parquet}  prompt-r1/${dataset.path}.parquet`)
    }
    expect(new Set(inReference.flatMap((d) => [d.sha256.parquet, d.sha256.jsonl])).size).toBe(26)
  })

  it('refuses a file whose sha256 is not the published one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'prompt-r1-datasets-'))
    await mkdir(join(dir, 'eval_data'))
    const original = await readFile(join(reference, 'eval_data/gsm8k.jsonl'), 'utf8')
    await writeFile(join(dir, 'eval_data/gsm8k.jsonl'), original.replace('"30"', '"31"'))
    await expect(loadPublishedDataset('gsm8k', 'jsonl', [dir])).rejects.toThrow(/sha256 .* is not the published/)
  })

  describe('folder', () => {
    const saved = process.env.PROMPT_R1_DATASETS_DIR
    afterEach(() => {
      if (saved === undefined) delete process.env.PROMPT_R1_DATASETS_DIR
      else process.env.PROMPT_R1_DATASETS_DIR = saved
    })

    it('is read from PROMPT_R1_DATASETS_DIR when set', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'prompt-r1-datasets-'))
      await mkdir(join(dir, 'eval_data'))
      await copyFile(join(reference, 'eval_data/hotpot.parquet'), join(dir, 'eval_data/hotpot.parquet'))
      process.env.PROMPT_R1_DATASETS_DIR = dir
      expect(datasetFolders()).toEqual([dir])
      expect(await loadPublishedDataset('hotpot')).toHaveLength(128)
      await expect(loadPublishedDataset('gsm8k')).rejects.toThrow(MissingDatasetError)
      await expect(loadPublishedDataset('gsm8k')).rejects.toThrow(
        `the published dataset "gsm8k" is not here: looked for eval_data/gsm8k.parquet in ${dir}; get it with: npm run prompt-r1 -- datasets pull gsm8k`)
    })

    it('is the pulled copy in the data folder first, then the reference copy beside the repository', () => {
      expect(datasetFolders({ PROMPT_R1_DATA_DIR: '/data/p' })).toEqual(['/data/p/datasets/prompt-r1', reference])
    })
  })
})

describe('readDataset and validateDataset', () => {
  it('reads plain JSONL {question, golds} and builds the content', async () => {
    const { rows, report } = await readDataset(utf8('{"question": "What is 2+2?", "golds": ["4"]}\n\n{"question": "Capital of France?", "golds": "Paris", "data_source": "mine"}\n'), 'jsonl')
    expect(report.problems).toEqual([])
    expect(report.rowCount).toBe(2)
    expect(rows[1]).toEqual({ index: 1, dataSource: 'mine', question: 'Capital of France?', content: userContentForQuestion('Capital of France?'), golds: ['Paris'] })
  })

  it('reports every bad row by row number, field and reason, and keeps the good ones', async () => {
    const lines = [
      '{"question": "ok", "golds": ["a"]}',
      'not json',
      '{"question": "", "golds": []}',
      '{"data_source": "x", "prompt": [{"role": "system", "content": "c"}], "reward_model": {"ground_truth": ["a"]}}',
      '{"data_source": "x", "prompt": [{"role": "user", "content": "Question: q"}], "reward_model": {"ground_truth": ["a", 3]}}',
      '[1, 2]',
      '{"golds": ["a"]}',
    ]
    const report = await validateDataset(utf8(lines.join('\n')), 'jsonl')
    expect(report.rowCount).toBe(6)
    expect(report.sample.map((row) => row.question)).toEqual(['ok'])
    expect(report.problems.map(({ row, field }) => [row, field])).toEqual([
      [2, 'line'],
      [3, 'question'],
      [3, 'golds'],
      [4, 'prompt[0].role'],
      [5, 'reward_model.ground_truth[1]'],
      [6, 'row'],
      [7, 'row'],
    ])
    // the same bytes arriving as a stream, in chunks that cut lines and UTF-8 characters apart
    const bytes = utf8(`${lines.join('\n')}\n{"question": "naïve — ✓?", "golds": ["日本"]}\n`)
    const whole = await validateDataset(bytes, 'jsonl')
    for (const size of [1, 3, 7, 64]) {
      const chunks = Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.slice(i * size, (i + 1) * size))
      expect(await validateDataset((async function* () { yield* chunks })(), 'jsonl')).toEqual(whole)
    }
    expect(whole.sample.map((row) => row.question)).toEqual(['ok', 'naïve — ✓?'])
    expect(report.problems[0].reason).toMatch(/not valid JSON/)
  })

  it('never throws on bad bytes', async () => {
    const parquet = await readFile(join(reference, 'eval_data/gsm8k.parquet'))
    const truncated = await validateDataset(new Uint8Array(parquet.subarray(0, 5000)), 'parquet')
    expect(truncated).toMatchObject({ format: 'parquet', rowCount: 0, sample: [] })
    expect(truncated.problems[0]).toMatchObject({ row: 0, field: 'file' })
    expect((await validateDataset(new Uint8Array([0xff, 0xfe, 0x0a, 0x7b]), 'jsonl')).problems).toEqual([
      { row: 1, field: 'line', reason: 'not valid UTF-8' },
      { row: 2, field: 'line', reason: expect.stringMatching(/not valid JSON/) },
    ])
    expect(await validateDataset(new Uint8Array(), 'parquet')).toMatchObject({ rowCount: 0 })
    expect(await validateDataset(parquet, 'jsonl')).toMatchObject({ rowCount: 0 })
  })

  it('validates a published parquet file clean, with a sample', async () => {
    const report = await validateDataset(await readFile(join(reference, 'eval_data/MusiQue.parquet')), 'parquet')
    expect(report).toMatchObject({ format: 'parquet', rowCount: 128, problems: [] })
    expect(report.sample).toHaveLength(3)
  })
})
