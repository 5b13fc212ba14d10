// Memory under upload: POST /v1/files of a large JSONL dataset through the edge app (in-memory
// PGlite, a local blob folder), each size in a process of its own, the body streamed from disk;
// the peak RSS above the RSS just before the request, next to the file size (a route that held
// the body would grow by at least that much). Not a test. npm run bench:upload [-- --mb 24,95]
import { spawnSync } from 'node:child_process'
import { createWriteStream, mkdtempSync, openAsBlob, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { writeSection } from './common.ts'

const { values } = parseArgs({ options: { mb: { type: 'string', default: '24,95' }, case: { type: 'string' } } })

async function writeRows(path: string, megabytes: number) {
  const out = createWriteStream(path)
  let bytes = 0
  for (let i = 0; bytes < megabytes * 2 ** 20; i++) {
    const line = JSON.stringify({ question: `Question ${i}: what is ${i} + ${i}? ${'Some context for the question. '.repeat(8)}`, golds: [String(2 * i)], data_source: 'bench' }) + '\n'
    if (!out.write(line)) await new Promise<void>((resolve) => out.once('drain', () => resolve()))
    bytes += line.length
  }
  await new Promise<void>((resolve) => out.end(() => resolve()))
}

async function measure(megabytes: number) {
  const { createApp } = await import('../edge/app.ts')
  const { LocalBlobStore } = await import('../shared/blob/local.ts')
  const { loadConfig } = await import('../shared/config.ts')
  const { createApiKey } = await import('../shared/db/api-keys.ts')
  const { migrateDatabase, openPglite } = await import('../shared/db/embedded.ts')
  const database = await openPglite()
  await migrateDatabase(database)
  const dir = mkdtempSync(join(tmpdir(), 'bench-upload-'))
  const config = loadConfig({ PROMPT_R1_MAX_UPLOAD_BYTES: String(512 * 2 ** 20) })
  const app = createApp({ db: database.db, databaseDriver: 'pglite', blobs: new LocalBlobStore(dir), config, dispatcher: { jobQueued: () => {} } })
  const key = (await createApiKey(database.db, { projectId: 'p', name: 'k', isAdmin: false })).secret
  const path = join(dir, 'rows.jsonl')
  await writeRows(path, megabytes)
  const bytes = statSync(path).size
  // a Blob backed by the file: the request body streams from disk, so the RSS before the request
  // does not hold the file, and what the route holds is what grows
  const form = new FormData()
  form.set('file', new File([await openAsBlob(path)], 'rows.jsonl'))
  form.set('purpose', 'fine-tune')
  globalThis.gc?.()
  const before = process.memoryUsage().rss
  let peak = before
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, 5)
  const started = performance.now()
  const response = await app.request('/v1/files', { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form })
  const seconds = (performance.now() - started) / 1000
  clearInterval(sampler)
  peak = Math.max(peak, process.memoryUsage().rss)
  const body = await response.json() as { row_count?: number; error?: unknown }
  if (response.status !== 201) throw new Error(`upload failed: ${response.status} ${JSON.stringify(body)}`)
  rmSync(dir, { recursive: true, force: true })
  return { bytes, rows: body.row_count, before, peak, seconds }
}

if (values.case) {
  console.log(JSON.stringify(await measure(Number(values.case))))
  process.exit(0)
}

const mib = (b: number) => (b / 2 ** 20).toFixed(0)
const rows: string[] = []
for (const megabytes of values.mb.split(',').map(Number)) {
  const run = spawnSync(process.execPath, ['--expose-gc', ...process.execArgv, import.meta.filename, '--case', String(megabytes)], { encoding: 'utf8' })
  if (run.status !== 0) throw new Error(`the ${megabytes} MB case failed: ${run.stderr}`)
  const r = JSON.parse(run.stdout.trim().split('\n').at(-1)!)
  console.error(`${megabytes} MB: ${JSON.stringify(r)}`)
  rows.push(`| ${mib(r.bytes)} | ${r.rows} | ${mib(r.before)} | ${mib(r.peak)} | ${mib(r.peak - r.before)} | ${((r.peak - r.before) / r.bytes).toFixed(2)} | ${r.seconds.toFixed(1)} |`)
}
writeSection('upload', 'jsonl', [
  'POST /v1/files of a JSONL dataset (plain rows of ~330 bytes) through the edge app, in-memory PGlite and a local blob folder, each size in its own process; ' +
    'the body streams from a file on disk. Growth: peak RSS during the request above the RSS just before it.',
  '',
  '| file (MiB) | rows | RSS before (MiB) | peak RSS (MiB) | growth (MiB) | growth / file | seconds |',
  '|---|---|---|---|---|---|---|',
  ...rows,
].join('\n'), ['jsonl'])
