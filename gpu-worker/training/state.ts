// What a training run writes: resumable checkpoints in the blob store (trainable weights,
// optimizer state, step and data position; the manifest last, so a half-written checkpoint is
// never found), and the Hugging Face folders a user downloads: the merged model (base + LoRA fused,
// loadable by the engine) and the adapter alone (PEFT layout).
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getFile, putFile } from '../../shared/blob/files.ts'
import { type BlobStore, readAll } from '../../shared/blob/store.ts'
import type { FloatArray } from '../engine/onnx.ts'
import { qwen3WeightShapes } from '../engine/qwen3.ts'
import { SafetensorsFolder, type TensorToWrite, writeSafetensors, writeWeights } from '../engine/safetensors.ts'
import type { Checkpoint } from '../engine/checkpoint.ts'
import type { LoraOptions, PolicyModel } from './model.ts'
import type { AdamW } from './optim.ts'

const MODEL_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json']

/**
 * Writes the merged model: every base weight, the trained ones replaced, in the base checkpoint's
 * dtype (bf16 stays bf16), sharded as Hugging Face shards (model-0000N-of-0000M.safetensors and
 * the index, past `maxShardBytes`). Each weight is merged as its turn to be written comes, so no
 * more than one weight is held besides the model.
 */
export function writeMergedModel(base: Checkpoint, model: PolicyModel, outDir: string, maxShardBytes?: number): string {
  mkdirSync(outDir, { recursive: true })
  const tensors: Record<string, TensorToWrite> = {}
  for (const [name, shape] of qwen3WeightShapes(base.config)) {
    tensors[name] = { dtype: base.weights.entry(name).dtype, shape, data: () => [model.mergedWeight(name, (n) => base.weights.read(n, 'float32'))] }
  }
  writeWeights(outDir, tensors, maxShardBytes)
  for (const file of MODEL_FILES) if (existsSync(join(base.dir, file))) copyFileSync(join(base.dir, file), join(outDir, file))
  return outDir
}

/** Writes the adapter alone: adapter_model.safetensors and adapter_config.json, as PEFT saves them. */
export function writeAdapter(model: PolicyModel, lora: LoraOptions, baseModel: string, outDir: string): string {
  mkdirSync(outDir, { recursive: true })
  writeSafetensors(join(outDir, 'adapter_model.safetensors'), paramTensors(model.params, model))
  const targetModules = [...new Set(model.adapters.map((a) => a.weight.split('.').at(-2)!))]
  writeFileSync(join(outDir, 'adapter_config.json'), JSON.stringify({
    peft_type: 'LORA', task_type: 'CAUSAL_LM', base_model_name_or_path: baseModel,
    r: lora.rank, lora_alpha: lora.alpha, target_modules: targetModules, lora_dropout: 0, bias: 'none', fan_in_fan_out: false,
  }, null, 2))
  return outDir
}

/**
 * Reads a PEFT LoRA adapter folder (adapter_config.json and adapter_model.safetensors, as PEFT and
 * writeAdapter save them) into the adapter factors of a LoRA PolicyModel. Refuses an adapter whose
 * rank, scaling or target projections differ from the model's, or that uses a variant this
 * trainer does not implement (rsLoRA, DoRA, per-module ranks).
 */
export function loadAdapter(model: PolicyModel, dir: string): void {
  const config = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'))
  const where = `${dir}/adapter_config.json`
  if (config.peft_type !== 'LORA') throw new Error(`${where}: peft_type ${config.peft_type} is not LORA`)
  for (const variant of ['use_rslora', 'use_dora']) if (config[variant]) throw new Error(`${where}: ${variant} is not supported`)
  for (const pattern of ['rank_pattern', 'alpha_pattern']) if (Object.keys(config[pattern] ?? {}).length) throw new Error(`${where}: ${pattern} is not supported`)
  if (!model.adapters.length) throw new Error('the model has no LoRA adapters to load into')
  const rank = model.adapters[0].rank
  if (config.r !== rank || config.lora_alpha / config.r !== model.loraScale) {
    throw new Error(`${where}: r ${config.r}, lora_alpha ${config.lora_alpha} (scaling ${config.lora_alpha / config.r}); the model has rank ${rank}, scaling ${model.loraScale}`)
  }
  const targets = new Set<string>(config.target_modules)
  const missing = [...new Set(model.adapters.map((a) => a.weight.split('.').at(-2)!))].filter((m) => !targets.has(m))
  if (missing.length) throw new Error(`${where}: target_modules lack ${missing.join(', ')}`)
  const tensors = new SafetensorsFolder(dir, 'adapter_model.safetensors')
  for (const [name, values] of model.params) {
    const entry = tensors.entry(name)
    if (entry.shape.join(',') !== model.shape(name).join(',')) throw new Error(`${dir}: ${name} has shape [${entry.shape}], the model's is [${model.shape(name)}]`)
    values.set(tensors.read(name, model.float))
  }
}

function paramTensors(params: Map<string, FloatArray>, model: PolicyModel): Record<string, TensorToWrite> {
  const out: Record<string, TensorToWrite> = {}
  for (const [name, v] of params) out[name] = { dtype: model.float === 'float32' ? 'F32' : 'F64', shape: model.shape(name), data: v }
  return out
}

/** Everything besides weights that a resumed run needs to continue exactly. */
export interface TrainManifest {
  step: number
  /** Sequences drawn from the dataset so far (the data position). */
  dataPosition: number
  optimizerStep: number
  seed: number
  /** Files of this checkpoint, relative to its prefix. */
  files: string[]
  metrics: Record<string, number>
}

const stepPrefix = (prefix: string, step: number) => `${prefix}/step-${String(step).padStart(7, '0')}`

/**
 * Saves parameters, optimizer moments and the manifest under `prefix/step-NNNNNNN/`. RNG states need
 * no file: every random draw of step k is seeded from (seed, k).
 */
export async function saveTrainState(store: BlobStore, prefix: string, model: PolicyModel, optimizer: AdamW, manifest: Omit<TrainManifest, 'files' | 'optimizerStep'>): Promise<string> {
  const dir = stepPrefix(prefix, manifest.step)
  const tmp = mkdtempSync(join(tmpdir(), 'prompt-r1-state-'))
  const files = ['params.safetensors', 'optimizer.safetensors']
  try {
    writeSafetensors(join(tmp, files[0]), paramTensors(model.params, model))
    const moments: Record<string, TensorToWrite> = {}
    const dtype = (x: FloatArray): 'F32' | 'F64' => (x instanceof Float32Array ? 'F32' : 'F64')
    for (const [name, m] of optimizer.state.m) moments[`m.${name}`] = { dtype: dtype(m), shape: [m.length], data: m }
    for (const [name, v] of optimizer.state.v) moments[`v.${name}`] = { dtype: dtype(v), shape: [v.length], data: v }
    writeSafetensors(join(tmp, files[1]), moments)
    for (const file of files) await putFile(store, `${dir}/${file}`, join(tmp, file))
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
  const full: TrainManifest = { ...manifest, optimizerStep: optimizer.state.step, files }
  await store.put(`${dir}/manifest.json`, new TextEncoder().encode(JSON.stringify(full, null, 2)))
  return dir
}

/** The manifest of the latest complete checkpoint under `prefix`, or null. */
export async function latestTrainState(store: BlobStore, prefix: string): Promise<{ dir: string; manifest: TrainManifest } | null> {
  const manifests = (await store.list(`${prefix}/`)).filter((k) => /\/step-\d{7}\/manifest\.json$/.test(k)).sort()
  const key = manifests.at(-1)
  if (!key) return null
  const body = await store.get(key)
  return { dir: key.slice(0, -'/manifest.json'.length), manifest: JSON.parse(new TextDecoder().decode(await readAll(body!))) }
}

/** Restores parameters and optimizer state in place from a checkpoint directory (each file streamed to disk, read tensor by tensor). */
export async function loadTrainState(store: BlobStore, dir: string, model: PolicyModel, optimizer: AdamW, manifest: TrainManifest): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'prompt-r1-state-'))
  try {
    const read = async (file: string) => {
      if (!(await getFile(store, `${dir}/${file}`, join(tmp, file)))) throw new Error(`checkpoint ${dir} lacks ${file}`)
      return new SafetensorsFolder(tmp, file)
    }
    const params = await read('params.safetensors')
    for (const [name, v] of model.params) {
      if (!params.tensors.has(name)) throw new Error(`checkpoint ${dir} lacks ${name}`)
      v.set(params.read(name, model.float))
    }
    const moments = await read('optimizer.safetensors')
    optimizer.state = { step: manifest.optimizerStep, m: new Map(), v: new Map() }
    for (const [key, entry] of moments.tensors) {
      const values = moments.read(key, entry.dtype === 'F64' ? 'float64' : 'float32')
      ;(key.startsWith('m.') ? optimizer.state.m : optimizer.state.v).set(key.slice(2), values)
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}
