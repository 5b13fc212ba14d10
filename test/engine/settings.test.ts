// The engine's settings reach the sessions of every runner, and a provider that cannot start is
// refused with what is missing and how to get it.
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { checkProvider } from '../../gpu-worker/engine/native.ts'
import { createEvalRunner } from '../../gpu-worker/runners/eval.ts'
import { makeTinyCheckpoint } from '../../gpu-worker/engine/tiny.ts'
import { LocalAgents } from '../../gpu-worker/agent.ts'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import { createEvaluationBody } from '../../shared/job-config.ts'
import { tempDir } from '../helpers/temp.ts'
import { TEST_MODEL_FOLDERS } from '../helpers/engine.ts'

const ortDir = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', process.platform, process.arch)
const cudaInstalled = existsSync(join(ortDir, 'libonnxruntime_providers_cuda.so'))
if (cudaInstalled) console.warn('SKIPPED (a CUDA provider that cannot start): this machine has the CUDA provider libraries')
const CUDA = { provider: 'cuda' as const, deviceId: 0, threads: 1 }
const missing = /libonnxruntime_providers_cuda\.so.*ONNXRUNTIME_NODE_INSTALL=cuda12/s

describe.skipIf(cudaInstalled)('engine settings', () => {
  it('a worker asked for CUDA without its libraries stops at start, naming them and the install command', async () => {
    await expect(checkProvider(CUDA)).rejects.toThrow(missing)
    await expect(checkProvider({ provider: 'cpu' })).resolves.toBeUndefined()
  })

  it('reach the agent a chat loads and the agent an evaluation job loads', async () => {
    const model = tempDir()
    makeTinyCheckpoint(model, { seed: 2 })
    const agents = new LocalAgents({ db: null as never, blobs: null as never, allowLoopbackEnvironment: true, engine: CUDA, cacheDir: tempDir(), defaultModel: { name: 'a', source: model } })
    await expect(agents.run({ projectId: 'p', model: 'a', question: 'q', environment: { baseURL: 'http://127.0.0.1:9/v1', model: 'm', apiKey: 'k' }, protocol: 'training', sampling: {}, signal: new AbortController().signal, onEvent: () => {} }))
      .rejects.toThrow(/the CUDA execution provider cannot start/)
    const config = createEvaluationBody.parse({ datasets: ['gsm8k'], max_rows: 1, modes: ['agent'], environment: { base_url: 'http://127.0.0.1:9/v1', model: 'm' }, agent: { model } })
    const job = { id: 'job-x', projectId: 'p', kind: 'eval', config, attempt: 1 } as never
    await expect(createEvalRunner({ engine: CUDA, cacheDir: tempDir(), allowLoopbackEnvironment: true, modelFolders: TEST_MODEL_FOLDERS, similarityModel: 'hashed' })({ job, db: null as never, blobs: new LocalBlobStore(tempDir()), signal: new AbortController().signal, event: async () => {}, progress: () => {} }))
      .rejects.toThrow(/the CUDA execution provider cannot start/)
  })
})
