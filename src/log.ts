import pino from 'pino'

/**
 * One logger per process; never a line per request at info level. Until the configuration is read
 * it writes JSON lines to stdout; `configureLog` then picks, once per process: a file (LOG_FILE,
 * JSON, reopened on SIGUSR2 after logrotate moved it), readable lines for a person (LOG_FORMAT
 * pretty, or auto on a terminal), or JSON lines on stdout for a log pipeline.
 */
export let log: pino.Logger = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  base: { pid: process.pid },
})

export interface LogOptions {
  readonly LOG_LEVEL: string
  readonly LOG_FORMAT: 'auto' | 'json' | 'pretty'
  /** '' for stdout */
  readonly LOG_FILE: string
}

let configured = false

export function configureLog(o: LogOptions): void {
  if (configured) {
    log.level = o.LOG_LEVEL
    return
  }
  configured = true
  const options = { level: o.LOG_LEVEL, base: { pid: process.pid } }
  if (o.LOG_FILE !== '') {
    // Synchronous: a node logs a few lines a second at most (never one per request), and a line
    // written before a crash or a failed start's exit must be in the file; an asynchronous
    // destination not yet open when the process exits also throws from pino's exit hook.
    const file = pino.destination({ dest: o.LOG_FILE, append: true, mkdir: true, sync: true })
    process.on('SIGUSR2', () => file.reopen())
    log = pino(options, file)
  } else if (o.LOG_FORMAT === 'pretty' || (o.LOG_FORMAT === 'auto' && process.stdout.isTTY)) {
    // pino-pretty runs in a thread of its own, off the event loop that answers buyers.
    const pretty = { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'hostname' }
    log = pino({ ...options, transport: { target: 'pino-pretty', options: pretty } })
  } else {
    log.level = o.LOG_LEVEL
  }
}

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
