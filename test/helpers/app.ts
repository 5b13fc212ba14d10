// The edge app over a fresh Postgres database, with an admin key and a worker the test can drive.
import { expect } from 'vitest'
import { type AppDeps, createApp } from '../../edge/app.ts'
import { createRunners } from '../../gpu-worker/runners/index.ts'
import { JobWorker } from '../../gpu-worker/worker.ts'
import type { AgentService } from '../../shared/agents.ts'
import type { BlobStore } from '../../shared/blob/store.ts'
import { loadConfig } from '../../shared/config.ts'
import { createApiKey } from '../../shared/db/api-keys.ts'
import type { OpenDatabase } from '../../shared/db/database.ts'
import { TEST_ENGINE, TEST_MODEL_FOLDERS } from './engine.ts'
import { checkAgainstDescription } from './openapi.ts'

// The API's error shape: {error: {code, message, param}} with the given status.
export function expectApiError(response: { status: number; json: any }, status: number, code: string, param?: string | null) {
  expect(response.json?.error?.code, JSON.stringify(response.json)).toBe(code)
  expect(response.status).toBe(status)
  expect(typeof response.json.error.message).toBe('string')
  if (param !== undefined) expect(response.json.error.param).toBe(param)
}

export interface RequestOptions { key?: string | null; json?: unknown; body?: BodyInit; headers?: Record<string, string> }

export async function testApp(database: OpenDatabase, blobs: BlobStore, env: Record<string, string> = {}, agents?: AgentService) {
  const config = loadConfig({ PROMPT_R1_POLL_MS: '50', PROMPT_R1_HEARTBEAT_SECONDS: '1', PROMPT_R1_LEASE_SECONDS: '5', PROMPT_R1_MODEL_FOLDERS: TEST_MODEL_FOLDERS.join(':'), ...env })
  const worker = new JobWorker({ db: database.db, blobs, runners: createRunners({ ...config, engine: TEST_ENGINE }), ...config.queue, log: () => {} })
  const deps: AppDeps = {
    db: database.db, databaseDriver: database.driver, blobs, config, agents, dispatcher: { jobQueued: () => worker.wake() },
  }
  const app = createApp(deps)
  const admin = (await createApiKey(database.db, { projectId: 'default', name: 'test superuser', isAdmin: true, isSuperuser: true })).secret

  async function request(method: string, path: string, options: RequestOptions = {}) {
    const headers: Record<string, string> = { ...options.headers }
    const key = options.key === undefined ? admin : options.key
    if (key !== null) headers.authorization = `Bearer ${key}`
    let body = options.body
    if (options.json !== undefined) {
      headers['content-type'] ??= 'application/json'
      body = JSON.stringify(options.json)
    }
    const response = await app.request(path, { method, headers, body })
    const text = await response.text()
    checkAgainstDescription(method, path, response.status, response.headers.get('content-type'), text)
    let json: any
    try { json = JSON.parse(text) } catch { json = undefined }
    return { status: response.status, json, text, headers: response.headers }
  }

  // a key of its own project, as a tenant's
  async function projectKey(projectId: string): Promise<string> {
    const response = await request('POST', '/v1/api_keys', { json: { name: `key of ${projectId}`, project_id: projectId } })
    if (response.status !== 201) throw new Error(`could not make a key: ${response.text}`)
    return response.json.secret
  }

  return { app, request, admin, projectKey, worker, config }
}
