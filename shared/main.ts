// The life of a command-line entry point: a configuration error is printed as the one message it
// is, any other failure with its stack; SIGINT and SIGTERM run the entry's clean-up, then exit.
import { ConfigError } from './config.ts'

export function runMain(main: () => Promise<(() => Promise<void>) | void>): void {
  main().then((shutdown) => {
    if (!shutdown) return
    const stop = async () => {
      await shutdown()
      process.exit(0)
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  }).catch((error) => {
    console.error(error instanceof ConfigError ? error.message : error)
    process.exit(1)
  })
}
