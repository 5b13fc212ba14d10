// A dataset named rather than uploaded: a published set (registry.ts, read from this machine's
// datasets folders) or a built-in one (builtin.ts, made here). Training jobs, the estimate and
// evaluations look a name up only here.
import { BUILTIN_DATASETS } from './builtin.ts'
import type { DatasetRow } from './read.ts'
import { PUBLISHED_DATASETS, type TaskKind, loadPublishedDataset } from './registry.ts'

export interface NamedDataset {
  name: string
  kind: TaskKind
  /** null where it is not known before the file is read (the published training set) */
  rowCount: number | null
  /** where an evaluation table puts it */
  group: 'in-distribution' | 'out-of-distribution' | 'other'
}

export const PUBLISHED_NAMES = PUBLISHED_DATASETS.map((d) => d.name)
export const BUILTIN_NAMES = BUILTIN_DATASETS.map((d) => d.name)

export function namedDataset(name: string): NamedDataset | undefined {
  const published = PUBLISHED_DATASETS.find((d) => d.name === name)
  if (published) {
    const group = published.split === 'eval-in-distribution' ? 'in-distribution' : published.split === 'eval-out-of-distribution' ? 'out-of-distribution' : 'other'
    return { name, kind: published.kind, rowCount: published.rowCount, group }
  }
  const builtin = BUILTIN_DATASETS.find((d) => d.name === name)
  return builtin && { name, kind: builtin.kind, rowCount: builtin.rows().length, group: 'other' }
}

/** A named set's rows: a published one checked by its sha256, a built-in one made. */
export async function loadNamedDataset(name: string): Promise<DatasetRow[]> {
  const builtin = BUILTIN_DATASETS.find((d) => d.name === name)
  return builtin ? builtin.rows() : loadPublishedDataset(name)
}
