// Failures of the services the platform stands on (the database, the blob store), told apart from
// bugs and bad input: the API answers them 503 with Retry-After, a worker gives the job back to the
// queue instead of failing it, and neither shows the fault's text (paths, statements) to a tenant.
export interface ServiceFault { service: 'database' | 'blob store'; code: string }

// postgres.js connection errors, and SQLSTATEs that a retry can get past: class 08 (connection),
// 53 (insufficient resources), 57014 (statement timeout), 57P01-03 (shutdown), 40001/40P01
const DATABASE_CODES = /^(08...|53...|57014|57P0[123]|40001|40P01|CONNECT_TIMEOUT|CONNECTION_(CLOSED|DESTROYED|ENDED)|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH)$/
// a blob folder that cannot be written: permissions, a read-only or full file system, I/O errors
const FILE_CODES = /^(EACCES|EPERM|EROFS|ENOSPC|EDQUOT|EIO|EMFILE|ENFILE)$/

export function serviceFault(error: unknown): ServiceFault | undefined {
  let database = false
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    const { code, syscall, $metadata } = e as { code?: unknown; syscall?: unknown; $metadata?: { httpStatusCode?: number } }
    if (e.name === 'DrizzleQueryError' || e.name === 'PostgresError') database = true
    if (typeof code === 'string' && typeof syscall === 'string' && FILE_CODES.test(code)) return { service: 'blob store', code }
    // the S3 client: a server error or no answer at all
    if ($metadata && ($metadata.httpStatusCode === undefined || $metadata.httpStatusCode >= 500)) return { service: 'blob store', code: String(code ?? e.name) }
    if (typeof code === 'string' && DATABASE_CODES.test(code) && (database || e.name === 'PostgresError' || syscall === 'connect' || /^CONN/.test(code))) {
      return { service: 'database', code }
    }
  }
  return undefined
}

export const RETRY_AFTER_SECONDS = 5

export function faultMessage(fault: ServiceFault): string {
  return `The ${fault.service} is unavailable (${fault.code}); retry in a few seconds`
}
