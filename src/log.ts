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
