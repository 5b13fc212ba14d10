// Evaluation metrics. The published ones (SQuAD normalisation; EM, F1 and substring match, each the
// best over the gold answers) reproduce the published eval script, with one stated change: an empty
// prediction scores 0 on substring match. math_equal and semantic similarity are named extras.
import { PY_WORD, pySplit, pyStrip } from './python.ts'

// Python's string.punctuation: the ASCII punctuation only.
const ASCII_PUNCTUATION = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g
// \b(a|an|the)\b with Python's Unicode-aware \b: "thé" keeps its "th", as in Python.
const ARTICLES = new RegExp(`(?<!${PY_WORD})(?:a|an|the)(?!${PY_WORD})`, 'gu')

/** SQuAD normalisation: lower-case, drop ASCII punctuation, drop a/an/the, collapse white space. */
export function normalizeAnswer(text: string): string {
  const lowered = text.toLowerCase().replace(ASCII_PUNCTUATION, '')
  return pySplit(lowered.replace(ARTICLES, ' ')).join(' ')
}

/**
 * Token multiset overlap F1 of normalised token lists, 0 without overlap. This is the training
 * reward's F1 as published: two empty lists score 0 here (the eval metric says 1, see f1Score).
 */
export function tokenOverlapF1(predictionTokens: string[], goldTokens: string[]): number {
  const goldCounts = new Map<string, number>()
  for (const token of goldTokens) goldCounts.set(token, (goldCounts.get(token) ?? 0) + 1)
  let common = 0
  for (const token of predictionTokens) {
    const left = goldCounts.get(token) ?? 0
    if (left > 0) {
      common++
      goldCounts.set(token, left - 1)
    }
  }
  if (common === 0) return 0
  const precision = common / predictionTokens.length
  const recall = common / goldTokens.length
  return (2 * precision * recall) / (precision + recall)
}

const best = (golds: string[], score: (gold: string) => number) => Math.max(0, ...golds.map(score))

export function exactMatch(prediction: string, golds: string[]): number {
  const normalized = normalizeAnswer(prediction)
  return best(golds, (gold) => (normalizeAnswer(gold) === normalized ? 1 : 0))
}

/** The eval script's F1: both sides empty after normalisation score 1, one side empty scores 0. */
export function f1Score(prediction: string, golds: string[]): number {
  const predictionTokens = pySplit(normalizeAnswer(prediction))
  return best(golds, (gold) => {
    const goldTokens = pySplit(normalizeAnswer(gold))
    if (predictionTokens.length === 0 && goldTokens.length === 0) return 1
    return tokenOverlapF1(predictionTokens, goldTokens)
  })
}

/**
 * Normalised gold in normalised prediction, or the reverse. An empty (normalised) prediction scores
 * 0: the published script scores it 1, since "" is in every string.
 */
export function substringMatch(prediction: string, golds: string[]): number {
  const normalized = normalizeAnswer(prediction)
  if (normalized === '') return 0
  return best(golds, (gold) => {
    const normalizedGold = normalizeAnswer(gold)
    return normalized.includes(normalizedGold) || normalizedGold.includes(normalized) ? 1 : 0
  })
}

// math_equal: numbers are compared as numbers once the LaTeX wrapping is gone.
const BOXED = /\\(?:boxed|fbox)\{((?:[^{}]|\{[^{}]*\})*)\}/
const FRACTION = /^(-?)\\[dt]?frac\{(-?[\d.]+)\}\{(-?[\d.]+)\}$/
const SLASH_FRACTION = /^(-?[\d.]+)\/(-?[\d.]+)$/
const NUMBER = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?$/i
const THOUSANDS = /^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$/

/** A math answer as a number: \boxed{} and $ stripped, "1,000" and simple fractions read; else null. */
export function parseMathNumber(text: string): number | null {
  const boxed = BOXED.exec(text)
  let s = pyStrip((boxed ? boxed[1] : text).replaceAll('$', '').replace(/\\[,!; ]/g, ''))
  s = s.replace(/\.$/, '') // a sentence's full stop, as in "18."
  if (THOUSANDS.test(s)) s = s.replaceAll(',', '')
  const fraction = FRACTION.exec(s)
  if (fraction) return (fraction[1] ? -1 : 1) * (Number(fraction[2]) / Number(fraction[3]))
  const slash = SLASH_FRACTION.exec(s)
  if (slash) return Number(slash[1]) / Number(slash[2])
  return NUMBER.test(s) ? Number(s) : null
}

/**
 * Named extra metric, never a replacement for EM: 1 when prediction and a gold are the same number
 * (18 == 18.0, 1,000 == 1000, \boxed{18} == 18, 1/2 == 0.5); when neither is a number, normalised
 * equality; a number against a non-number is 0.
 */
export function mathEqual(prediction: string, golds: string[]): number {
  const predicted = parseMathNumber(prediction)
  return best(golds, (gold) => {
    const expected = parseMathNumber(gold)
    if (predicted === null && expected === null) return exactMatch(prediction, [gold])
    if (predicted === null || expected === null || !Number.isFinite(predicted) || !Number.isFinite(expected)) return 0
    return Math.abs(predicted - expected) <= 1e-9 * Math.max(1, Math.abs(expected)) ? 1 : 0
  })
}

/** Turns texts into vectors; a sentence-embedding model in real use (all-MiniLM-L6-v2 published). */
export interface TextEmbedder {
  /** What the results say was used. */
  readonly name: string
  embed(texts: string[]): Promise<number[][]>
}

/** The embedding model the published evaluation uses. */
export const PUBLISHED_EMBEDDER = 'sentence-transformers/all-MiniLM-L6-v2'

export const HASHED_EMBEDDER_NAME = 'hashed-bag-of-words (word overlap; not comparable with all-MiniLM-L6-v2)'

/**
 * The offline default: a hashed bag of normalised words (512 buckets). It measures word overlap,
 * not meaning; it exists so that the metric runs where no embedding model can be loaded, and its
 * numbers are not comparable with the published all-MiniLM-L6-v2 similarity.
 */
export class HashedBagOfWordsEmbedder implements TextEmbedder {
  readonly name = HASHED_EMBEDDER_NAME
  constructor(private readonly dimensions = 512) {}

  async embed(texts: string[]): Promise<number[][]> {
    return texts.map((text) => {
      const vector = new Array<number>(this.dimensions).fill(0)
      for (const word of pySplit(normalizeAnswer(text))) vector[fnv1a(word) % this.dimensions] += 1
      return vector
    })
  }
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5
  for (const byte of new TextEncoder().encode(text)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0
  return hash
}

function cosine(a: number[], b: number[]): number {
  let dot = 0
  let normA = 0
  let normB = 0
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i]
    normA += a[i] * a[i]
    normB += b[i] * b[i]
  }
  return normA === 0 || normB === 0 ? 0 : dot / Math.sqrt(normA * normB)
}

/** Best cosine similarity between the prediction and a gold; an empty prediction scores 0. */
export async function semanticSimilarity(prediction: string, golds: string[], embedder: TextEmbedder): Promise<number> {
  if (pyStrip(prediction) === '' || golds.length === 0) return 0
  const [predicted, ...goldVectors] = await embedder.embed([pyStrip(prediction), ...golds.map(pyStrip)])
  return Math.max(0, ...goldVectors.map((gold) => cosine(predicted, gold)))
}
