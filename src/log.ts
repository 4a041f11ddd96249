import pino from 'pino'

/** One logger per process; never a line per request at info level. */
export const log = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  base: { pid: process.pid },
})
