// `prompt-r1 datasets list|pull`: the published sets, where this machine has them, and getting the
// missing ones from the Hugging Face hub into the data folder (datasets/pull.ts).
import { existsSync, statSync } from 'node:fs'
import { PUBLISHED_DATASETS, datasetFolders, pulledDatasetsDir } from '../../datasets/registry.ts'
import { PullError, pullDatasets } from '../../datasets/pull.ts'
import { progressLine } from './progress.ts'

export const DATASETS_USAGE = `usage: prompt-r1 datasets list
       prompt-r1 datasets pull [NAME ...]   (default: every published set)
  pull writes to PROMPT_R1_DATA_DIR/datasets/prompt-r1 (default .prompt-r1/...), from the Hugging Face
  hub dataset QwenQKing/Prompt-R1 (HF_ENDPOINT names a mirror); each file is checked by sha256`

interface Streams { out: { write(s: string): unknown }; err: { write(s: string): unknown; isTTY?: boolean } }

/** Runs the command; returns the exit status (0 done, 1 a pull failed, 2 a usage error). */
export async function runDatasetsCli(args: string[], env: Record<string, string | undefined>, io: Streams, signal?: AbortSignal): Promise<number> {
  const [command, ...names] = args
  if (command === 'list' && names.length === 0) {
    const folders = datasetFolders(env)
    io.out.write('| name | split | kind | rows | where |\n|---|---|---|---:|---|\n')
    for (const dataset of PUBLISHED_DATASETS) {
      const file = folders.map((folder) => `${folder}/${dataset.path}.parquet`).find((f) => existsSync(f))
      const where = file ? `${file} (${(statSync(file).size / 1e6).toFixed(1)} MB)` : `missing: prompt-r1 datasets pull ${dataset.name}`
      io.out.write(`| ${dataset.name} | ${dataset.split} | ${dataset.kind} | ${dataset.rowCount ?? '~40k'} | ${where} |\n`)
    }
    return 0
  }
  if (command !== 'pull') {
    io.err.write(`${DATASETS_USAGE}\n`)
    return 2
  }
  const unknown = names.filter((name) => !PUBLISHED_DATASETS.some((d) => d.name === name))
  if (unknown.length > 0) {
    io.err.write(`prompt-r1 datasets pull: unknown dataset ${unknown.join(', ')} (published: ${PUBLISHED_DATASETS.map((d) => d.name).join(', ')})\n`)
    return 2
  }
  const dir = pulledDatasetsDir(env)
  const tty = io.err.isTTY === true
  const started = Date.now()
  let lastTenth = -1
  try {
    const pulled = await pullDatasets({
      names: names.length > 0 ? names : PUBLISHED_DATASETS.map((d) => d.name),
      dir, endpoint: (env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, ''), signal,
      onProgress: ({ name, bytes, total }) => {
        // redrawn on a terminal; in a log, a line per tenth
        const tenth = total ? Math.floor((bytes / total) * 10) : -1
        if (!tty && tenth === lastTenth) return
        lastTenth = tenth
        const kb = (n: number) => Math.round(n / 1024)
        io.err.write(progressLine(kb(bytes), total ? kb(total) : kb(bytes), `KiB ${name}`, Date.now() - started, tty))
      },
    })
    if (tty) io.err.write('\n')
    for (const file of pulled) io.out.write(`${file.name}: ${file.skipped ? 'already here' : `pulled ${file.bytes} bytes`}, sha256 ${file.sha256}, ${file.file}\n`)
    return 0
  } catch (error) {
    if (!(error instanceof PullError)) throw error
    io.err.write(`${tty ? '\n' : ''}prompt-r1 datasets pull: ${error.message}\n`)
    return 1
  }
}
