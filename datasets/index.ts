export { readDataset, validateDataset } from './read.ts'
export type { DatasetFormat, DatasetProblem, DatasetReport, DatasetRow } from './read.ts'
export { MissingDatasetError, PUBLISHED_DATASETS, datasetFolders, loadPublishedDataset, publishedDataset, publishedDatasetFile, pulledDatasetsDir } from './registry.ts'
export type { PublishedDataset, TaskKind } from './registry.ts'
