import pino from 'pino'

/** One logger per process; never a line per request at info level. */
export const log = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  base: { pid: process.pid },
})

/**
 * A start that cannot go on: the message goes to stderr as plain text (a person reads it, not a
 * log pipeline), and the process exits with `code`.
 */
export function die(message: string, code = 1): never {
  process.stderr.write(`seckill: ${message}\n`)
  process.exit(code)
}

/**
 * An entry file's stop: on the first of `events` (signals, or 'disconnect' for a forked worker
 * whose primary is gone) run `stop` once, then exit 0; past `timeoutMs` (null: no limit) exit 1.
 */
export function exitOnStop(
  stop: (event: string) => Promise<void>,
  timeoutMs: number | null,
  events: readonly string[] = ['SIGTERM', 'SIGINT'],
): void {
  let stopping = false
  const onEvent = (event: string) => {
    if (stopping) return
    stopping = true
    if (timeoutMs !== null) {
      setTimeout(() => {
        log.warn({ signal: event }, 'graceful stop timed out; exiting')
        process.exit(1)
      }, timeoutMs).unref()
    }
    stop(event).then(
      () => process.exit(0),
      (err: Error) => die(err.message),
    )
  }
  for (const event of events) process.on(event, () => onEvent(event))
}
