// Platform processes for tests (the edge, workers) started as a deployment starts them, and a
// streamed chat read the way a client reads it.
import { type ChildProcess, spawn } from 'node:child_process'

const launched: ChildProcess[] = []

export interface Process { child: ChildProcess; output: () => string }

/** Starts `entry` under tsx with `env` and waits until its output says `ready`. */
export async function launch(entry: string, env: Record<string, string>, ready: string): Promise<Process> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  launched.push(child)
  let output = ''
  child.stdout!.on('data', (d) => { output += d })
  child.stderr!.on('data', (d) => { output += d })
  const deadline = Date.now() + 90_000
  while (!output.includes(ready)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${entry} did not start:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return { child, output: () => output }
}

/** One streamed chat: every SSE data payload in order, parsed (the closing `[DONE]` as the string). */
export async function streamChat(base: string, key: string, body: Record<string, unknown>, options: { signal?: AbortSignal; onData?: (data: any) => void } = {}) {
  const response = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST', signal: options.signal, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ stream: true, ...body }),
  })
  if (response.status !== 200) return { status: response.status, headers: response.headers, body: await response.json() as any, data: [] as any[] }
  const data: any[] = []
  const decoder = new TextDecoder()
  let pending = ''
  for await (const chunk of response.body!) {
    pending += decoder.decode(chunk, { stream: true })
    let end: number
    while ((end = pending.indexOf('\n\n')) >= 0) {
      const payload = pending.slice(0, end).replace(/^data: /, '')
      pending = pending.slice(end + 2)
      const parsed = payload === '[DONE]' ? payload : JSON.parse(payload)
      data.push(parsed)
      options.onData?.(parsed)
    }
  }
  return { status: 200, headers: response.headers, body: null, data }
}


/** Kills every process `launch` started. */
export function killLaunched(): void {
  for (const child of launched.splice(0)) child.kill('SIGKILL')
}
