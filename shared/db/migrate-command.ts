// `npm run migrate`: apply the migrations to the configured database, and register
// PROMPT_R1_ADMIN_KEY when it is set (a Worker deployment reads keys from the same database).
import { loadConfig } from '../config.ts'
import { runMain } from '../main.ts'
import { ensureAdminKey } from './api-keys.ts'
import { openConfiguredDatabase } from './embedded.ts'

runMain(async () => {
  const config = loadConfig(process.env)
  const database = await openConfiguredDatabase(config)
  const generated = await ensureAdminKey(database.db, config.adminKey)
  console.log(`migrations applied (${database.driver})`)
  if (generated) console.log(`admin API key (shown once; store it now): ${generated}`)
  await database.close()
})
