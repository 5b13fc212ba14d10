// The folders' contract (DESIGN.md): edge/ and gpu-worker/ never import each other, and shared/ and
// datasets/, which both use, import neither; only the composition roots (platform/, bin/, scripts/)
// wire edge and worker together.
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join, relative, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (name === 'node_modules' || name === 'build') return []
    return statSync(path).isDirectory() ? files(path) : /\.(ts|tsx)$/.test(name) ? [path] : []
  })
}

/** The top folder of every relative import of a folder's files, per file. */
function importedFolders(folder: string): { file: string; target: string }[] {
  return files(join(ROOT, folder)).flatMap((file) => {
    const text = readFileSync(file, 'utf8')
    return [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => ({
      file: relative(ROOT, file), target: relative(ROOT, resolve(dirname(file), m[1])).split('/')[0],
    }))
  })
}

describe('folder boundaries', () => {
  const forbidden: Record<string, string[]> = {
    edge: ['gpu-worker', 'platform'],
    'gpu-worker': ['edge', 'platform'],
    shared: ['edge', 'gpu-worker', 'platform'],
    datasets: ['edge', 'gpu-worker', 'platform'],
  }
  for (const [folder, targets] of Object.entries(forbidden)) {
    it(`${folder}/ imports none of ${targets.join(', ')}`, () => {
      const imports = importedFolders(folder)
      expect(imports.length).toBeGreaterThan(5) // the pattern finds its imports
      expect(imports.filter(({ target }) => targets.includes(target))).toEqual([])
    })
  }
})
