// Starts a worker thread's TypeScript entry (workerData.entry) under tsx, as the main thread runs:
// Node 20 does not hand the main thread's module loader to worker threads.
import { workerData } from 'node:worker_threads'
import { register } from 'tsx/esm/api'

register()
await import(workerData.entry)
