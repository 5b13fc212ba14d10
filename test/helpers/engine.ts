// The engine settings tests run models with: CPU, one thread (two test files run at once on two cores).
import { realpathSync } from 'node:fs'
import { tmpdir } from 'node:os'
import type { EngineSettings } from '../../shared/config.ts'

// tests write their checkpoints into temporary folders: those are the model folders jobs may name
export const TEST_MODEL_FOLDERS = [realpathSync(tmpdir())]

export const TEST_ENGINE: EngineSettings = { provider: 'cpu', deviceId: 0, threads: 1 }
