// The similarity metric's sentence embeddings as published: a sentence-transformers model
// (all-MiniLM-L6-v2) run by @huggingface/transformers' feature-extraction pipeline on
// onnxruntime-node, with sentence-transformers' recipe: mean pooling over the attention mask, then
// L2 normalisation (so the cosine is a dot product). The model is a folder holding config.json,
// tokenizer.json and onnx/model.onnx, or a hub id (downloaded once, online only).
import { type FeatureExtractionPipeline, env, pipeline } from '@huggingface/transformers'
import type { TextEmbedder } from '../../shared/protocol/metrics.ts'

/** The embedding model the published evaluation uses. */
export const PUBLISHED_EMBEDDER = 'sentence-transformers/all-MiniLM-L6-v2'

export class SentenceEmbedder implements TextEmbedder {
  private constructor(readonly name: string, private readonly extract: FeatureExtractionPipeline) {}

  /** `model`: a model folder (an absolute or relative path) or a hub id such as PUBLISHED_EMBEDDER. */
  static async load(model: string, options: { threads?: number; allowDownload?: boolean } = {}): Promise<SentenceEmbedder> {
    env.allowRemoteModels = options.allowDownload ?? false
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
