// The worker image's health check: can this container do its work? The database answers and the
// configured execution provider starts (on CUDA: the provider libraries load and a session runs
// on the device). Exit 0 when both hold, 1 with one line saying what does not.
import postgres from 'postgres'
import { loadConfig } from '../shared/config.ts'
import { checkProvider } from './engine/native.ts'

async function health(): Promise<string | null> {
  const config = loadConfig(process.env)
  if (!config.databaseUrl) return 'DATABASE_URL is not set'
  const sql = postgres(config.databaseUrl, { max: 1, connect_timeout: 5, onnotice: () => {} })
  try {
    await sql`select 1`
  } catch (error) {
    return `the database does not answer: ${(error as Error).message}`
  } finally {
    await sql.end({ timeout: 1 })
  }
  try {
    await checkProvider(config.engine)
  } catch (error) {
    return (error as Error).message
  }
  return null
}

const problem = await health().catch((error: Error) => error.message)
if (problem) console.error(`unhealthy: ${problem}`)
else console.log('healthy')
process.exitCode = problem ? 1 : 0
