export { readDataset, validateDataset } from './read.ts'
export type { DatasetFormat, DatasetProblem, DatasetReport, DatasetRow } from './read.ts'
export { PUBLISHED_DATASETS, datasetsDir, loadPublishedDataset, publishedDataset } from './registry.ts'
export type { PublishedDataset, TaskKind } from './registry.ts'
