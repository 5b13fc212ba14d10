// The similarity metric's sentence embeddings as published: a sentence-transformers model
// (all-MiniLM-L6-v2) run by @huggingface/transformers' feature-extraction pipeline on
// onnxruntime-node, with sentence-transformers' recipe: mean pooling over the attention mask, then
// L2 normalisation (so the cosine is a dot product). The model is a folder holding config.json,
// tokenizer.json and onnx/model.onnx, or a hub id (downloaded once, online only).
import { join } from 'node:path'
import { type FeatureExtractionPipeline, env, pipeline } from '@huggingface/transformers'
import { HashedBagOfWordsEmbedder, type TextEmbedder } from '../../shared/protocol/metrics.ts'
import type { TaskKind } from '../../datasets/registry.ts'
import { defaultCacheDir } from '../engine/checkpoint.ts'

export class SentenceEmbedder implements TextEmbedder {
  private constructor(readonly name: string, private readonly extract: FeatureExtractionPipeline) {}

  /** `model`: a model folder (an absolute or relative path) or a hub id such as PUBLISHED_EMBEDDER,
   * fetched once into `cacheDir`/embedders when downloads are allowed. */
  static async load(model: string, options: { threads?: number; allowDownload?: boolean; cacheDir?: string } = {}): Promise<SentenceEmbedder> {
    env.allowRemoteModels = options.allowDownload ?? false
    env.cacheDir = join(options.cacheDir ?? defaultCacheDir(), 'embedders')
    const extract = await pipeline('feature-extraction', model, {
      dtype: 'fp32', device: 'cpu',
      session_options: options.threads ? { intraOpNumThreads: options.threads, interOpNumThreads: 1 } : {},
    })
    return new SentenceEmbedder(model, extract as FeatureExtractionPipeline)
  }

  async embed(texts: string[]): Promise<number[][]> {
    if (texts.length === 0) return []
    const output = await this.extract(texts, { pooling: 'mean', normalize: true })
    return output.tolist() as number[][]
  }

  async dispose(): Promise<void> { await this.extract.dispose() }
}

/** PROMPT_R1_SIMILARITY_MODEL's value that asks for the hashed bag of words on purpose. */
export const HASHED_EMBEDDER = 'hashed'

/**
 * The similarity metric's embedder for a run: for long-form sets the configured model (by default
 * the published one, from the cache or the hub), or, where it cannot be loaded (offline and not
 * cached, a broken folder), the hashed bag of words with the reason, for the caller to report.
 */
export async function loadSimilarityEmbedder(
  datasets: { kind: TaskKind }[], model: string, options: { threads?: number; cacheDir?: string },
): Promise<{ embedder: TextEmbedder & { dispose?(): Promise<void> }; warning: string | null }> {
  if (model === HASHED_EMBEDDER || !datasets.some((d) => d.kind === 'long-form')) return { embedder: new HashedBagOfWordsEmbedder(), warning: null }
  try {
    return { embedder: await SentenceEmbedder.load(model, { ...options, allowDownload: true }), warning: null }
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    return {
      embedder: new HashedBagOfWordsEmbedder(),
      warning: `similarity: the embedding model ${model} could not be loaded (${reason.split('\n')[0]}); the long-form sets are scored ` +
        'by word overlap (hashed bag of words), not comparable with the published all-MiniLM-L6-v2 numbers. Set PROMPT_R1_SIMILARITY_MODEL ' +
        'to a folder holding the model (config.json, tokenizer.json, onnx/model.onnx)',
    }
  }
}
