// Hugging Face checkpoints: where they come from (a local folder, a blob-store prefix, the hub),
// checking that the weights match config.json, and exporting the ONNX model folder that both our
// engine and @huggingface/transformers load.
import { createHash } from 'node:crypto'
import { copyFileSync, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { BlobStore } from '../../shared/blob/store.ts'
import { type Qwen3Config, type Qwen3GraphOptions, buildQwen3, parseQwen3Config, qwen3WeightShapes } from './qwen3.ts'
import { SafetensorsFolder } from './safetensors.ts'

export interface Checkpoint {
  dir: string
  config: Qwen3Config
  /** config.json as written. */
  rawConfig: Record<string, any>
  weights: SafetensorsFolder
  /** Default stop tokens: eos ids of config.json and generation_config.json. */
  stopTokenIds: number[]
}

/** Opens a checkpoint folder and checks every weight the graph needs is there with the right shape. */
export function openCheckpoint(dir: string): Checkpoint {
  const rawConfig = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))
  const config = parseQwen3Config(rawConfig)
  const weights = new SafetensorsFolder(dir)
  for (const [name, shape] of qwen3WeightShapes(config)) {
    const found = weights.entry(name).shape
    if (found.join(',') !== shape.join(',')) throw new Error(`${dir}: ${name} has shape [${found}], config.json implies [${shape}]`)
  }
  const generation = existsSync(join(dir, 'generation_config.json')) ? JSON.parse(readFileSync(join(dir, 'generation_config.json'), 'utf8')) : {}
  const stopTokenIds = [...new Set([...config.eosTokenIds, ...[generation.eos_token_id ?? []].flat()])] as number[]
  return { dir, config, rawConfig, weights, stopTokenIds }
}

export function buildFromCheckpoint(ckpt: Checkpoint, options: Qwen3GraphOptions = {}) {
  return buildQwen3(ckpt.config, (name) => ckpt.weights.read(name, options.float ?? 'float32'), options)
}

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']

/**
 * Writes a model folder in the layout @huggingface/transformers and optimum use: config.json
 * (with `transformers.js_config.use_external_data_format` so the weights file is found),
 * tokenizer files, and onnx/model.onnx + onnx/model.onnx_data. Returns the folder.
 */
export function exportOnnx(ckpt: Checkpoint, outDir: string, options: Qwen3GraphOptions = {}): string {
  mkdirSync(join(outDir, 'onnx'), { recursive: true })
  buildFromCheckpoint(ckpt, options).graph.save(join(outDir, 'onnx'), 'model.onnx')
  const config = { ...ckpt.rawConfig, 'transformers.js_config': { use_external_data_format: true } }
  writeFileSync(join(outDir, 'config.json'), JSON.stringify(config, null, 2))
  for (const file of TOKENIZER_FILES) if (existsSync(join(ckpt.dir, file))) copyFileSync(join(ckpt.dir, file), join(outDir, file))
  return outDir
}

/**
 * Builds (once) the ONNX file for a checkpoint and options, under `cacheDir/onnx/<key>/`; the key
 * covers the config, the weight files' sizes and times, and the options.
 */
export function cachedOnnx(ckpt: Checkpoint, cacheDir: string, options: Qwen3GraphOptions = {}): string {
  const hash = createHash('sha256').update(JSON.stringify([resolve(ckpt.dir), ckpt.rawConfig, options]))
  for (const file of new Set([...ckpt.weights.tensors.values()].map((t) => t.file))) {
    const s = statSync(file)
    hash.update(`${file}:${s.size}:${s.mtimeMs}`)
  }
  const dir = join(cacheDir, 'onnx', hash.digest('hex').slice(0, 16))
  const model = join(dir, 'model.onnx')
  if (!existsSync(model)) {
    // Build beside, then rename: a crashed build never looks finished.
    const partial = `${dir}.partial-${process.pid}`
    rmSync(partial, { recursive: true, force: true })
    buildFromCheckpoint(ckpt, options).graph.save(partial, 'model.onnx')
    mkdirSync(dirname(dir), { recursive: true })
    rmSync(dir, { recursive: true, force: true })
    renameSync(partial, dir)
  }
  return model
}

export function defaultCacheDir(): string {
  return process.env.PROMPT_R1_CACHE ?? join(homedir(), '.cache', 'prompt-r1')
}

/**
 * Where a checkpoint comes from:
 * - a local folder path;
 * - `hf:owner/name` or `hf:owner/name@revision`: the Hugging Face hub (needs network; cached);
 * - `{ store, prefix }`: a blob-store prefix holding the same files (copied to the cache once).
 */
export type ModelSource = string | { store: Pick<BlobStore, 'get' | 'list'>; prefix: string }

/** Resolves a source to a local folder with config.json, weights and tokenizer files. */
export async function resolveCheckpoint(source: ModelSource, cacheDir = defaultCacheDir()): Promise<string> {
  if (typeof source !== 'string') return fromBlobStore(source.store, source.prefix, cacheDir)
  if (source.startsWith('hf:')) return fromHub(source.slice(3), cacheDir)
  if (!existsSync(join(source, 'config.json'))) {
    throw new Error(`${source} is not a checkpoint folder (no config.json); for the Hugging Face hub write hf:${source}`)
  }
  return source
}

async function fromBlobStore(store: Pick<BlobStore, 'get' | 'list'>, prefix: string, cacheDir: string): Promise<string> {
  const base = prefix.endsWith('/') ? prefix : `${prefix}/`
  const dir = join(cacheDir, 'blob', createHash('sha256').update(base).digest('hex').slice(0, 16))
  if (existsSync(join(dir, '.complete'))) return dir
  const keys = (await store.list(base)).filter((k) => !k.slice(base.length).includes('/'))
  if (!keys.some((k) => k.endsWith('/config.json'))) throw new Error(`blob prefix ${base} holds no config.json`)
  mkdirSync(dir, { recursive: true })
  for (const key of keys) {
    const body = await store.get(key)
    if (!body) throw new Error(`blob ${key} disappeared while copying`)
    await writeStream(body, join(dir, key.slice(base.length)))
  }
  writeFileSync(join(dir, '.complete'), '')
  return dir
}

async function fromHub(id: string, cacheDir: string): Promise<string> {
  const [repo, revision = 'main'] = id.split('@')
  if (!/^[\w.-]+\/[\w.-]+$/.test(repo)) throw new Error(`"${repo}" is not a Hugging Face model id (owner/name)`)
  const dir = join(cacheDir, 'hub', repo.replace('/', '--'), revision)
  if (existsSync(join(dir, '.complete'))) return dir
  const endpoint = process.env.HF_ENDPOINT ?? 'https://huggingface.co'
  const headers: Record<string, string> = process.env.HF_TOKEN ? { authorization: `Bearer ${process.env.HF_TOKEN}` } : {}
  const fetchFile = async (file: string, optional = false) => {
    const url = `${endpoint}/${repo}/resolve/${revision}/${file}`
    let response: Response
    try {
      response = await fetch(url, { headers })
    } catch (error) {
      throw new Error(`cannot download ${url} (is this machine offline?): ${(error as Error).message}. Pass a local checkpoint folder instead.`)
    }
    if (response.status === 404 && optional) return false
    if (!response.ok || !response.body) throw new Error(`${url}: HTTP ${response.status}`)
    await writeStream(response.body, join(dir, file))
    return true
  }
  mkdirSync(dir, { recursive: true })
  await fetchFile('config.json')
  for (const file of TOKENIZER_FILES) await fetchFile(file, true)
  if (await fetchFile('model.safetensors.index.json', true)) {
    const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'))
    for (const shard of new Set(Object.values(index.weight_map as Record<string, string>))) await fetchFile(shard)
  } else {
    await fetchFile('model.safetensors')
  }
  writeFileSync(join(dir, '.complete'), '')
  return dir
}

async function writeStream(body: ReadableStream<Uint8Array>, path: string) {
  mkdirSync(dirname(path), { recursive: true })
  const partial = `${path}.partial`
  await pipeline(Readable.fromWeb(body as import('node:stream/web').ReadableStream), createWriteStream(partial))
  renameSync(partial, path)
}
