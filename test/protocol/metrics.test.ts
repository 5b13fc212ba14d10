// Metrics on tricky strings. Expected normalisations were produced by the published Python
// normalize_answer (Python 3.12).
import { describe, expect, it } from 'vitest'
import {
  HashedBagOfWordsEmbedder, exactMatch, f1Score, mathEqual, normalizeAnswer, parseMathNumber, semanticSimilarity, substringMatch,
} from '../../shared/protocol/metrics.ts'

describe('SQuAD normalisation', () => {
  it.each([
    ['thé café', 'thé café'], // Python's \b is Unicode-aware: "thé" is one word
    ['The Beatles!', 'beatles'],
    ['an apple, a day', 'apple day'],
    ['İstanbul', 'i̇stanbul'],
    ['ΣΑΣ', 'σας'], // final sigma
    ['a_the b', 'athe b'], // "_" is punctuation, dropped before articles are
    ['the\u00a0end', 'end'],
    ['5.6', '56'], // numbers are only tokens in the published metric
    ['¿Qué?', '¿qué'], // only ASCII punctuation is dropped
    ['theater', 'theater'],
    ["O'Neil", 'oneil'],
    ['naïve the ü', 'naïve ü'],
    ['the²', 'the²'], // "²" is a word character to Python
  ])('%j -> %j', (text, expected) => {
    expect(normalizeAnswer(text)).toBe(expected)
  })
})

describe('EM, F1, substring match', () => {
  it('takes the best over several golds', () => {
    const golds = ['psychiatrist', 'alienist', 'head-shrinker']
    expect(exactMatch('Head shrinker', golds)).toBe(0) // "head-shrinker" normalises to "headshrinker"
    expect(exactMatch('Headshrinker.', golds)).toBe(1)
    expect(f1Score('a famous psychiatrist', golds)).toBeCloseTo(2 / 3, 12)
    expect(substringMatch('He was an alienist in Chile', golds)).toBe(1)
  })

  it('counts F1 on token multisets', () => {
    expect(f1Score('paris paris paris', ['paris'])).toBeCloseTo(0.5, 12) // precision 1/3, recall 1
    expect(f1Score('new york city', ['New York'])).toBeCloseTo(0.8, 12)
    expect(f1Score('london', ['paris'])).toBe(0)
  })

  it('scores empty answers as the eval script does, except substring match', () => {
    expect(f1Score('', ['the'])).toBe(1) // both empty after normalisation
    expect(f1Score('', ['paris'])).toBe(0)
    expect(exactMatch('The.', ['a'])).toBe(1)
    expect(substringMatch('', ['paris'])).toBe(0) // the published script says 1
    expect(substringMatch('the', ['paris'])).toBe(0)
    expect(substringMatch('paris', ['Paris, France'])).toBe(1) // prediction inside gold counts too
  })

  it('needs at least one gold', () => {
    expect(exactMatch('x', [])).toBe(0)
    expect(f1Score('x', [])).toBe(0)
  })
})

describe('math_equal (named extra)', () => {
  it.each([
    ['18', '18.0'],
    ['1,000', '1000'],
    ['\\boxed{18}', '18'],
    ['The answer is $\\boxed{\\frac{1}{2}}$', '0.5'],
    ['$30$', '30'],
    ['1/4', '0.25'],
    ['-\\dfrac{3}{4}', '-0.75'],
    ['18.', '18'],
    ['1,234,567.5', '1234567.5'],
  ])('%j equals %j', (prediction, gold) => {
    expect(mathEqual(prediction, [gold])).toBe(1)
  })

  it.each([
    ['18', '19'],
    ['1,00', '100'], // not a thousands separator
    ['about 18', '18'],
    ['', '0'],
  ])('%j differs from %j', (prediction, gold) => {
    expect(mathEqual(prediction, [gold])).toBe(0)
  })

  it('falls back to normalised equality for non-numbers and leaves the published metrics alone', () => {
    expect(mathEqual('x + 1', ['X+1'])).toBe(0)
    expect(mathEqual('The answer', ['answer'])).toBe(1)
    expect(exactMatch('18', ['18.0'])).toBe(0) // the published EM still compares tokens
    expect(parseMathNumber('5.6')).toBe(5.6)
    expect(parseMathNumber('five')).toBeNull()
  })
})

describe('semantic similarity', () => {
  const embedder = new HashedBagOfWordsEmbedder()

  it('is 1 for the same words, 0 for an empty prediction, in between for overlap', async () => {
    expect(await semanticSimilarity('The cat sat.', ['the cat sat'], embedder)).toBeCloseTo(1, 12)
    expect(await semanticSimilarity('  ', ['the cat sat'], embedder)).toBe(0)
    const partial = await semanticSimilarity('the cat ran', ['a cat sat', 'dogs bark'], embedder)
    expect(partial).toBeCloseTo(0.5, 12) // "cat ran" vs "cat sat": one of two words shared
  })

  it('uses the embedder it is given', async () => {
    const calls: string[][] = []
    const fixed = { name: 'fixed', embed: async (texts: string[]) => (calls.push(texts), texts.map((_, i) => (i === 0 ? [1, 0] : [0.6, 0.8]))) }
    expect(await semanticSimilarity(' a ', [' b '], fixed)).toBeCloseTo(0.6, 12)
    expect(calls).toEqual([['a', 'b']])
  })
})
