// The engine settings tests run models with: CPU, one thread (two test files run at once on two cores).
import type { EngineSettings } from '../../shared/config.ts'

export const TEST_ENGINE: EngineSettings = { provider: 'cpu', deviceId: 0, threads: 1 }
