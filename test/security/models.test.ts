// Which models a tenant may name: hf: names, its own checkpoints, and folders inside the operator's
// model folders; at the edge as written, and at the worker where the folder's links lead.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { modelSource } from '../../gpu-worker/model-source.ts'
import { LocalBlobStore } from '../../shared/blob/local.ts'
import { insertCheckpoint } from '../../shared/db/checkpoints.ts'
import type { OpenDatabase } from '../../shared/db/database.ts'
import { createJob } from '../../shared/db/jobs.ts'
import { describePostgres, freshPostgres } from '../helpers/databases.ts'
import { expectApiError, testApp } from '../helpers/app.ts'
import { tempDir } from '../helpers/temp.ts'

describePostgres('model references', () => {
  let database: OpenDatabase
  let t: Awaited<ReturnType<typeof testApp>>
  let tenantA: string
  let tenantB: string
  let blobs: LocalBlobStore
  let models: string
  let outside: string
  let checkpointOfB: string

  beforeAll(async () => {
    database = await freshPostgres()
    blobs = new LocalBlobStore(tempDir())
    models = tempDir('models-')
    outside = tempDir('elsewhere-')
    for (const dir of [join(models, 'agent'), outside]) {
      mkdirSync(dir, { recursive: true })
      writeFileSync(join(dir, 'config.json'), '{}')
    }
    symlinkSync(outside, join(models, 'link-out'))
    t = await testApp(database, blobs, { PROMPT_R1_MODEL_FOLDERS: models })
    tenantA = await t.projectKey('tenant-a')
    tenantB = await t.projectKey('tenant-b')
    const job = await createJob(database.db, { projectId: 'tenant-b', kind: 'noop', config: {}, maxAttempts: 1 })
    const stored = await blobs.put('b/merged/config.json', new TextEncoder().encode('{}'))
    checkpointOfB = (await insertCheckpoint(database.db, {
      projectId: 'tenant-b', jobId: job.id, step: 1, kind: 'merged', files: { merged: [{ path: 'config.json', blobKey: 'b/merged/config.json', ...stored }] },
    })).id
  })
  afterAll(async () => { await database?.close() })

  const train = (model: string, key = tenantA) => t.request('POST', '/v1/training/jobs', { key, json: { model, method: { type: 'noop' } } })
  const evaluate = (model: string, key = tenantA) => t.request('POST', '/v1/evaluations', {
    key, json: { datasets: ['gsm8k'], modes: ['agent'], environment: { base_url: 'http://e.example/v1', model: 'm' }, agent: { model } },
  })

  it('accepts hf: names, the caller\'s checkpoints and folders inside the model folders', async () => {
    expect((await train('hf:Qwen/Qwen3-0.6B')).status).toBe(201)
    expect((await train(join(models, 'agent'))).status).toBe(201)
    expect((await train(checkpointOfB, tenantB)).status).toBe(201)
    expect((await evaluate(join(models, 'agent'))).status).toBe(201)
  })

  it('refuses other folders, climbing out, bare hub names and other projects\' checkpoints', async () => {
    for (const model of [outside, '/etc', `${models}/../${outside.split('/').pop()}`, `${models}-sibling/agent`, 'agent', '']) {
      const response = await train(model)
      expect(response.status, `${model}: ${response.text}`).toBe(400)
      expect(response.json.error.param).toBe('model')
      expect(response.text).not.toContain(models) // the operator's folders are not shown
    }
    const bare = await train('Qwen/Qwen3-0.6B')
    expectApiError(bare, 400, 'model_not_allowed', 'model')
    expect(bare.json.error.message).toContain("write 'hf:Qwen/Qwen3-0.6B'")
    expectApiError(await train(checkpointOfB), 404, 'not_found', 'model')
    expectApiError(await evaluate(outside), 400, 'model_not_allowed', 'agent.model')
    expectApiError(await evaluate(checkpointOfB), 404, 'not_found', 'agent.model')
  })

  it('refuses at the worker a folder whose links lead outside, and another project\'s checkpoint', async () => {
    const access = { db: database.db, blobs, projectId: 'tenant-a', modelFolders: [models] }
    await expect(modelSource(join(models, 'agent'), access)).resolves.toMatch(/agent$/)
    await expect(modelSource(join(models, 'link-out'), access)).rejects.toThrow(/leads outside this server's model folders/)
    await expect(modelSource(outside, access)).rejects.toThrow(/not inside this server's model folders/)
    await expect(modelSource(checkpointOfB, access)).rejects.toThrow(/no checkpoint .* in this project/)
    await expect(modelSource(checkpointOfB, { ...access, projectId: 'tenant-b' })).resolves.toMatchObject({ prefix: 'b/merged' })
  })
})
