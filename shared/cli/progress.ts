// A progress line for the command line's long work.

/** `[#######.............]  37/96  gsm8k agent  12 s`, redrawn in place on a terminal. */
export function progressLine(done: number, total: number, label: string, elapsedMs: number, tty: boolean): string {
  const width = 30
  const filled = total === 0 ? width : Math.round((done / total) * width)
  const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}  ${label}  ${Math.round(elapsedMs / 1000)} s`
  return tty ? `\r${line.padEnd(100)}` : `${line}\n`
}
