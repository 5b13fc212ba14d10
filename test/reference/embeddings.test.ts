// The similarity metric's embeddings against sentence-transformers (test/reference/embeddings.py):
// a tiny random BERT saved as a sentence-transformers model and exported with torch.onnx.export,
// embedded by the project's SentenceEmbedder (@huggingface/transformers feature-extraction, mean
// pooling, normalised): the vectors and the cosine similarities equal sentence-transformers' to 1e-5.
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SentenceEmbedder } from '../../gpu-worker/eval/embedder.ts'
import { semanticSimilarity } from '../../shared/protocol/metrics.ts'
import { fixture, reference } from './helpers.ts'

const expected = () => JSON.parse(readFileSync(fixture('embeddings', 'embeddings.json'), 'utf8')) as {
  sentences: string[]; embeddings: number[][]; pairs: [number, number][]; cosines: number[]
}
const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0)

let embedder: SentenceEmbedder
beforeAll(async () => { embedder = await SentenceEmbedder.load(fixture('embeddings', 'model'), { threads: 1 }) })
afterAll(async () => { await embedder?.dispose() })

describe(`sentence embeddings against sentence-transformers (fixtures: ${reference().source})`, () => {
  it('gives the same normalised mean-pooled vectors, one batch of sentences of different lengths', async () => {
    const { sentences, embeddings } = expected()
    const ours = await embedder.embed(sentences)
    const errors = ours.map((vector, i) => {
      expect(vector).toHaveLength(embeddings[i].length)
      return Math.max(...vector.map((v, j) => Math.abs(v - embeddings[i][j])))
    })
    console.log(`embeddings vs sentence-transformers: largest component error ${Math.max(...errors).toExponential(2)}`)
    errors.forEach((error, i) => expect(error, sentences[i]).toBeLessThan(1e-5))
  })

  it('gives the same cosine similarities, and the metric reads them', async () => {
    const { sentences, pairs, cosines } = expected()
    const ours = await embedder.embed(sentences)
    const errors = pairs.map(([i, j], k) => Math.abs(dot(ours[i], ours[j]) - cosines[k]))
    console.log(`cosines vs sentence-transformers: largest error ${Math.max(...errors).toExponential(2)}`)
    errors.forEach((error, k) => expect(error, `${pairs[k]}`).toBeLessThan(1e-5))
    const [i, j] = pairs[0]
    expect(Math.abs((await semanticSimilarity(sentences[i], [sentences[j]], embedder)) - cosines[0])).toBeLessThan(1e-5)
  })

  it('the comparison fails on a real difference: the CLS vector instead of the mean', async () => {
    const { sentences, embeddings } = expected()
    const output = await (embedder as unknown as { extract: (t: string[], o: object) => Promise<{ tolist(): number[][] }> }).extract(sentences.slice(0, 3), { pooling: 'cls', normalize: true })
    const cls = output.tolist()
    expect(Math.max(...cls.map((v, i) => Math.max(...v.map((x, j) => Math.abs(x - embeddings[i][j])))))).toBeGreaterThan(1e-2)
  })
})
