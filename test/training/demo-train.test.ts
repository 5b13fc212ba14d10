// npm run demo:train end to end on a fresh data folder: train (a short run: the learning itself is
// learning.test.ts's), register the merged checkpoint in the embedded platform (PGlite + local blob
// store), then serve it through /v1/chat/completions and download its files through the API, and
// load the downloaded folder in the engine.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TEST_ENGINE } from '../helpers/engine.ts'
import { createApp } from '../../edge/app.ts'
import { LocalAgents } from '../../gpu-worker/agent.ts'
import { Engine } from '../../gpu-worker/engine/session.ts'
import { demoTrain, rewardSvg } from '../../scripts/demo-train.ts'
import { openBlobStore } from '../../shared/blob/open.ts'
import { loadConfig } from '../../shared/config.ts'
import { DEFAULT_PROJECT, createApiKey } from '../../shared/db/api-keys.ts'
import { openConfiguredDatabase } from '../../shared/db/embedded.ts'
import { OpenAIEnvironment } from '../../shared/protocol/environment.ts'
import { type DeterministicArithmeticEnv, startDeterministicArithmeticEnv } from '../protocol/deterministic-arithmetic-env.ts'
import { removeTempDirs, tempDir } from './helpers.ts'

let server: DeterministicArithmeticEnv
beforeAll(async () => { server = await startDeterministicArithmeticEnv() })
afterAll(async () => {
  await server.close()
  removeTempDirs()
})

describe('npm run demo:train', () => {
  it('trains, registers a merged checkpoint, which the platform then serves and lets download', async () => {
    const dataDir = tempDir('demo-data-')
    // A fresh machine: no DATABASE_URL, no S3, so PGlite and the blob folder in the data folder.
    const config = loadConfig({ PROMPT_R1_DATA_DIR: dataDir, PROMPT_R1_ALLOW_LOOPBACK_ENVIRONMENT: 'true' })
    const progress: string[] = []
    const result = await demoTrain({
      config, outDir: join(dataDir, 'demo-train'),
      environment: new OpenAIEnvironment({ baseURL: server.baseURL, apiKey: 'test', model: 'arithmetic', policy: { allowLoopback: true } }),
      options: { steps: 2, warmStart: { steps: 3, batchSize: 8, optimizer: { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1, schedule: { kind: 'constant', warmupSteps: 0, totalSteps: 0, minRatio: 0 } } } },
      onProgress: (phase, k, n) => progress.push(`${phase} ${k}/${n}`),
    })
    expect(progress).toEqual(['warm-start 1/3', 'warm-start 2/3', 'warm-start 3/3', 'grpo 1/2', 'grpo 2/2'])
    const csv = readFileSync(result.csv, 'utf8').trim().split('\n')
    expect(csv[0].startsWith('step,reward_mean,')).toBe(true)
    expect(csv).toHaveLength(3)
    expect(readFileSync(result.svg, 'utf8')).toContain('<path d="M')

    const open = await openConfiguredDatabase(config)
    try {
      const blobs = openBlobStore(config)
      const agents = new LocalAgents({ db: open.db, blobs, allowLoopbackEnvironment: true, engine: TEST_ENGINE, cacheDir: join(dataDir, 'cache') })
      const app = createApp({ db: open.db, databaseDriver: 'pglite', blobs, config, agents, dispatcher: { jobQueued: () => {} } })
      const key = (await createApiKey(open.db, { projectId: DEFAULT_PROJECT, name: 'demo', isAdmin: false })).secret
      const call = (path: string, body?: unknown) => app.request(path, {
        method: body ? 'POST' : 'GET', body: body ? JSON.stringify(body) : undefined,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      })

      const job = await (await call(`/v1/training/jobs/${result.jobId}`)).json() as any
      expect(job).toMatchObject({ status: 'succeeded', fine_tuned_model: result.checkpointId })

      const chat = await call('/v1/chat/completions', {
        model: result.checkpointId, max_tokens: 32, messages: [{ role: 'user', content: '3 + 4' }],
        environment: { base_url: server.baseURL, model: 'arithmetic', api_key: 'x' },
      })
      const completion = await chat.json() as any
      expect(chat.status, JSON.stringify(completion)).toBe(200)
      expect(completion.model).toBe(result.checkpointId)
      expect(typeof completion.choices[0].message.content).toBe('string')
      expect(completion.turns.length).toBeGreaterThanOrEqual(1)

      const download = await (await call(`/v1/checkpoints/${result.checkpointId}/download?format=merged`)).json() as any
      const folder = tempDir('demo-download-')
      for (const file of download.files as { path: string; url: string; sha256: string; bytes: number }[]) {
        const response = await call(file.url)
        expect(response.status).toBe(200)
        const bytes = new Uint8Array(await response.arrayBuffer())
        expect(bytes.length).toBe(file.bytes)
        expect(createHash('sha256').update(bytes).digest('hex')).toBe(file.sha256)
        mkdirSync(folder, { recursive: true })
        writeFileSync(join(folder, file.path), bytes)
      }
      for (const name of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) expect(existsSync(join(folder, name)), name).toBe(true)
      const engine = await Engine.load(folder, { ...TEST_ENGINE, cacheDir: join(folder, '.cache') })
      await engine.dispose()
    } finally {
      await open.close()
    }
  }, 180_000)

  it('draws the reward curve on the reward range', () => {
    const svg = rewardSvg([-1, 0, 1])
    // x from 56 to 624, y from 24 (reward 1) to 316 (reward -1)
    expect(svg).toContain('<path d="M56.0,316.0 L340.0,170.0 L624.0,24.0"')
  })
})
