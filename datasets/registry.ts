// The published Prompt-R1 data: 12 eval sets of 128 rows, the 2,048-row validation set and the
// training set, as parquet (the byte-exact published file; JSONL of the same rows beside the
// reference copy). Files are read from the data folder, where `prompt-r1 datasets pull` puts them,
// or from a reference copy beside the repository; their sha256 is checked so a wrong copy fails
// loudly.
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { JobFailure } from '../shared/errors.ts'
import { readDataset, type DatasetFormat, type DatasetRow } from './read.ts'

/** What a set measures, which decides its headline metric. */
export type TaskKind = 'qa' | 'math' | 'long-form'

export interface PublishedDataset {
  name: string
  /** Path without extension, relative to the datasets folder. */
  path: string
  /** null where it is not known before the file is read (the training set) */
  rowCount: number | null
  kind: TaskKind
  split: 'eval-in-distribution' | 'eval-out-of-distribution' | 'validation' | 'train'
  /** The published files' sha256; the training set's parquet is checked against the hub's own at pull time. */
  sha256: { parquet: string | null; jsonl?: string }
}

const evalSet = (
  name: string,
  kind: TaskKind,
  split: PublishedDataset['split'],
  parquet: string,
  jsonl: string,
): PublishedDataset => ({ name, path: `eval_data/${name}`, rowCount: 128, kind, split, sha256: { parquet, jsonl } })

export const PUBLISHED_DATASETS: PublishedDataset[] = [
  evalSet('2WikiMultihopQA', 'qa', 'eval-in-distribution',
    'e2e5d9cc2c6a5fc78643bc2ac383ab2b5fe4ea0612cecec6614df796b3a3f85a', '7e5b7c83154c0f4b6bf0c5b642bbb03c07044a716f32112139e3ce5b7138d5a7'),
  evalSet('hotpot', 'qa', 'eval-in-distribution',
    '5432c889638283e813384a43100ff1a0275b5f9e79a6f1c90ffccab2ff8733a4', '2638d9a0c103b4a210391186903c4772c64b1bbabeb74e92b2342e29235f9a28'),
  evalSet('MusiQue', 'qa', 'eval-in-distribution',
    '53f6acdb53b609acd680bb3eccd7ac16ecf6a81c203c0814e01d52d5a4721dfb', '50957c92ca7f073680ea19d5f7b03d1c480a6af4c9b71311b875ce1f386a1b53'),
  evalSet('PopQA', 'qa', 'eval-in-distribution',
    '44955ca13d574cbe528d7becef53abf489acbc27d425430c0afa0856acc4d604', '683571d598232046d4cacf833d99dccbc981a2692fd3be23aa2b4e5f4880bdda'),
  evalSet('gsm8k', 'math', 'eval-in-distribution',
    '7fe0497ebf7fc8341c5554b2ae03c1292239d95f7292c4a42571a0079cf77b5e', 'd4e2b7914e4d12ba25262129f064d7e5a9c63f8a8dcba4cb0437778070669488'),
  evalSet('DAPO-Math', 'math', 'eval-in-distribution',
    '9723c9508414f628b1f36be1d3736f237bedcda2fb8c9e238bee9d7c9034afd2', '41d9a84d9a0d67b499fb1f05fae6978e21137a924587d7827513e4be6e384299'),
  evalSet('BookSum', 'long-form', 'eval-in-distribution',
    'f95d94296c385c5e0e73562aa42b33d4790ce5def66a7a0cc0be4bd2e334bf74', '14f7480f32efce636e9d57cdbd64317841d3d83c5cbda72529ee075d66366e7c'),
  evalSet('WritingPrompts', 'long-form', 'eval-in-distribution',
    '2633d25afe2c076b7684a45e774b138722b959a9d193cf1557973738c12b801d', '312f0f5191d1ec9e9c0dd2de92b26322460ddd5b88813209437b1764d2cde9be'),
  evalSet('MathQA_ood', 'math', 'eval-out-of-distribution',
    '703f1f7db70d9a1e60764187df538fe30bbb849bb7f90441bed466dab6a84871', '50fb32f834e55813c6063f50fdc56ce41419b4dddf5b5a32ea39a70e2e607911'),
  evalSet('squad_v2_ood', 'qa', 'eval-out-of-distribution',
    '0981aeffe6dbfae7f968ad90615df63fd27b4b2ed6b2f77db6011bc847d64339', '22eab7034aa17b2c9b2f43c87ba5a34568e37fa4edf37c42c6cf45771c6cd10a'),
  evalSet('triviaqa_ood', 'qa', 'eval-out-of-distribution',
    '6518682d3efcc6056d3bbd02d37ca124dfb105addd0354405284f60c70680487', '0b7cf0d5533e81421801b2d329dcad0cb1a0f1a9c6bffc5002b2df4083636e8d'),
  evalSet('Xsum_ood', 'long-form', 'eval-out-of-distribution',
    'bc147b5a71231ea217614a314b6486866086991271ab129398c9b7ddf76309b6', 'b096c9af0cca1481a7098fe416982ad41e705a11e03c14ffcb3b29c43e044286'),
  {
    // 256 rows per in-distribution task, in blocks of 256 (see SOURCE.md); its data_source is
    // "hotpotqa/hotpot_qa" on every row, so the block decides the task, not the field.
    name: 'validation',
    path: 'train_data/validation',
    rowCount: 2048,
    kind: 'qa',
    split: 'validation',
    sha256: {
      parquet: 'e18a304be8ca180ada71fa115fa2a6784ae95da54ea9b71bab94a5bfd6a512b3',
      jsonl: '1daf0b05eab06b0134817a537fe96890853271553271692a114062fe34bf0e5b',
    },
  },
  // about 40k rows (20.5 MB); only on the hub
  { name: 'train', path: 'train_data/train', rowCount: null, kind: 'qa', split: 'train', sha256: { parquet: null } },
]

/** A job or command that needs a published set this machine does not have fails with this. */
export class MissingDatasetError extends JobFailure {
  constructor(message: string) {
    super('dataset_missing', message)
  }
}

/** The folder `prompt-r1 datasets pull` writes to: PROMPT_R1_DATA_DIR/datasets/prompt-r1. */
export function pulledDatasetsDir(env: Record<string, string | undefined> = process.env): string {
  return resolve(env.PROMPT_R1_DATA_DIR || '.prompt-r1', 'datasets', 'prompt-r1')
}

/** Where published sets are looked for, in order: PROMPT_R1_DATASETS_DIR alone when set, else the
 * pulled copy in the data folder, then the reference copy beside the repository. */
export function datasetFolders(env: Record<string, string | undefined> = process.env): string[] {
  if (env.PROMPT_R1_DATASETS_DIR) return [resolve(env.PROMPT_R1_DATASETS_DIR)]
  // resolved on call, not on import: the Cloudflare Worker imports the registry (names only) and has no file URL
  return [pulledDatasetsDir(env), resolve(dirname(fileURLToPath(import.meta.url)), '../../shared/datasets/prompt-r1')]
}

/** The file of a published set: the first folder that holds it, else an error that says what is
 * missing, where it looked and the command that gets it. */
export function publishedDatasetFile(name: string, format: DatasetFormat = 'parquet', folders = datasetFolders()): string {
  const dataset = publishedDataset(name)
  const relative = `${dataset.path}.${format}`
  const found = folders.map((folder) => join(folder, relative)).find((file) => existsSync(file))
  if (found) return found
  const get = format === 'parquet'
    ? `get it with: npm run prompt-r1 -- datasets pull ${name}`
    : 'only the parquet file is published (prompt-r1 datasets pull gets it)'
  throw new MissingDatasetError(`the published dataset "${name}" is not here: looked for ${relative} in ${folders.join(', ')}; ${get}`)
}


export const isPublishedDataset = (name: string) => PUBLISHED_DATASETS.some((d) => d.name === name)

export function publishedDataset(name: string): PublishedDataset {
  const dataset = PUBLISHED_DATASETS.find((d) => d.name === name)
  if (!dataset) throw new Error(`unknown dataset "${name}"; known: ${PUBLISHED_DATASETS.map((d) => d.name).join(', ')}`)
  return dataset
}

/** Loads a published set, checking its sha256 and that every row is valid. */
export async function loadPublishedDataset(
  name: string,
  format: DatasetFormat = 'parquet',
  folders: string[] = datasetFolders(),
): Promise<DatasetRow[]> {
  const dataset = publishedDataset(name)
  const file = publishedDatasetFile(name, format, folders)
  const bytes = new Uint8Array(await readFile(file))
  const sha256 = createHash('sha256').update(bytes).digest('hex')
  const published = dataset.sha256[format]
  if (published && sha256 !== published) {
    throw new Error(`${file}: sha256 ${sha256} is not the published ${published}`)
  }
  const { rows, report } = await readDataset(bytes, format)
  if (report.problems.length > 0 || (dataset.rowCount !== null && rows.length !== dataset.rowCount)) {
    throw new Error(`${file}: ${rows.length} valid rows of ${dataset.rowCount}; first problem: ${JSON.stringify(report.problems[0])}`)
  }
  return rows
}
