// The chat runs' records, a row each. Group commit: while one insert is on its way, the rows that
// finish meanwhile wait and go in together as the next, so an idle edge writes each run at once
// and a loaded one writes a statement per batch instead of per chat (bench/edge-hop.ts: the
// statements were a tenth of the edge's CPU time with 64 chats at once).
import type { Database } from './database.ts'
import { runs } from './schema.ts'

export type RunRow = typeof runs.$inferInsert

const MAX_BATCH_ROWS = 64

export class RunLog {
  private waiting: { row: RunRow; resolve: () => void; reject: (error: unknown) => void }[] = []
  private writing = false

  constructor(private readonly db: Database) {}

  /** Resolves once the row is stored; a failed insert fails every run of its batch. */
  record(row: RunRow): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ row, resolve, reject })
      if (!this.writing) void this.write()
    })
  }

  private async write(): Promise<void> {
    this.writing = true
    while (this.waiting.length) {
      const batch = this.waiting.splice(0, MAX_BATCH_ROWS)
      try {
        await this.db.insert(runs).values(batch.map((w) => w.row))
        for (const w of batch) w.resolve()
      } catch (error) {
        for (const w of batch) w.reject(error)
      }
    }
    this.writing = false
  }
}
