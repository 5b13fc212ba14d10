// The prompt-r1 command's front door: the overview, --version, each command's --help, a bare
// command's usage and an unknown command, with their exit statuses.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

async function prompt_r1(...args: string[]) {
  try {
    const { stdout, stderr } = await promisify(execFile)(join(ROOT, 'node_modules/.bin/tsx'), ['bin/prompt-r1.ts', ...args], { cwd: ROOT })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string }
    return { code, stdout, stderr }
  }
}

describe('prompt-r1', () => {
  it('lists its commands on --help (exit 0) and bare (exit 2), and says its version', async () => {
    const help = await prompt_r1('--help')
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/^usage: prompt-r1 COMMAND/)
    for (const command of ['eval', 'score', 'datasets', 'chat', 'train']) expect(help.stdout).toMatch(new RegExp(`^  ${command} `, 'm'))
    expect(help.stdout).toMatch(/exit status: 0 done; 1 .*; 2 a usage error; 130 interrupted/s)
    const bare = await prompt_r1()
    expect(bare).toMatchObject({ code: 2, stdout: '' })
    expect(bare.stderr).toBe(help.stdout)
    const version = await prompt_r1('--version')
    expect(version).toMatchObject({ code: 0, stdout: `prompt-r1 ${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}\n` })
    const unknown = await prompt_r1('trian')
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/^prompt-r1: unknown command "trian"\nusage: prompt-r1 COMMAND/)
  })

  it('gives each command\'s usage on --help (exit 0) and for a bare command (exit 2)', async () => {
    for (const [command, usage] of [['eval', /^usage: prompt-r1 eval --dataset/], ['score', /^usage: prompt-r1 score/], ['datasets', /^usage: prompt-r1 datasets list/], ['chat', /^usage: prompt-r1 chat /], ['train', /^usage: prompt-r1 train /]] as const) {
      const help = await prompt_r1(command, '--help')
      expect(help.code, command).toBe(0)
      expect(help.stdout).toMatch(usage)
      const bare = await prompt_r1(command)
      expect(bare.code, command).toBe(2)
      expect(bare.stderr).toMatch(usage)
    }
  })
})
