import { availableParallelism, hostname } from 'node:os'
import { z } from 'zod'

/**
 * Configuration, read from the environment once at start, validated, and frozen.
 * Every variable here is listed in the README's configuration table.
 */
const int = (name: string, def: number, min: number, max: number) =>
  z.coerce
    .number({ error: `${name} must be an integer in ${min}..${max}` })
    .int(`${name} must be an integer in ${min}..${max}`)
    .min(min, `${name} must be an integer in ${min}..${max}`)
    .max(max, `${name} must be an integer in ${min}..${max}`)
    .default(def)

const schema = z.object({
  PORT: int('PORT', 3005, 1, 65535),
  HOST: z.string().min(1).default('0.0.0.0'),
  WORKERS: int('WORKERS', availableParallelism(), 1, 256),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'REDIS_URL must look like redis://host:port[/db]')
    .default('redis://127.0.0.1:6379'),
  // Every key this server writes starts with this; lets tests and several deployments share a Redis.
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_:.-]{0,64}$/, 'REDIS_PREFIX must be 0..64 chars of [A-Za-z0-9_:.-]')
    .default('sk:'),
  // One message for missing and too short: zod's own "expected string, received undefined"
  // would not tell the operator what a valid token is.
  SECKILL_ADMIN_TOKEN: z
    .string({ error: 'SECKILL_ADMIN_TOKEN must be at least 16 characters' })
    .min(16, 'SECKILL_ADMIN_TOKEN must be at least 16 characters'),
  DEFAULT_SALE: z.string().default(''),
  // 1 ms keeps the added latency of a winner below the network jitter, while a storm still
  // fills batches by BATCH_MAX long before the window ends.
  BATCH_WINDOW_US: int('BATCH_WINDOW_US', 1000, 0, 100000),
  BATCH_MAX: int('BATCH_MAX', 128, 1, 1000),
  // Measured on 2 cores (README, Benchmarks): the thread hop cost 3-26% of sale-path throughput
  // under autocannon and was within the noise under wrk; it never paid, so the batched call runs
  // on the worker's own thread unless told otherwise.
  RESERVE_MODE: z
    .enum(['piscina', 'inline'], { error: 'RESERVE_MODE must be piscina or inline' })
    .default('inline'),
  PISCINA_THREADS: int('PISCINA_THREADS', 1, 1, 64),
  // Largest grant of stock quota to one worker at a time; the fair share caps it too.
  QUOTA_CHUNK: int('QUOTA_CHUNK', 500, 1, 1000000),
  // Attempts waiting for quota (all of it in flight) per worker; more are refused with 429.
  PARK_MAX: int('PARK_MAX', 20000, 0, 10000000),
  PARK_TIMEOUT_MS: int('PARK_TIMEOUT_MS', 5000, 10, 600000),
  // Requests per second one userId may send to one worker before 429; 0 turns it off.
  RATE_LIMIT_PER_USER: int('RATE_LIMIT_PER_USER', 0, 0, 1000000),
  SALE_POLL_MS: int('SALE_POLL_MS', 200, 10, 60000),
  // The longest a buyer waits on Redis: a batch unanswered this long is answered 503
  // outcome_unknown (it may have been reserved). A few hundred ms is far above a healthy batch's
  // round trip (under 15 ms at p99 in the benchmarks) and well below a client's patience.
  PURCHASE_TIMEOUT_MS: int('PURCHASE_TIMEOUT_MS', 500, 10, 60000),
  // Every other Redis command (pay, cancel, sale admin, the primary, the writer) fails after this.
  REDIS_TIMEOUT_MS: int('REDIS_TIMEOUT_MS', 2000, 50, 600000),
  // Empty: node-postgres reads PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD and their defaults.
  DATABASE_URL: z
    .string()
    .regex(/^(postgres(ql)?:\/\/.*)?$/, 'DATABASE_URL must look like postgres://user@host:port/db')
    .default(''),
  PG_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'PG_SCHEMA must be a lower-case name of [a-z0-9_]')
    .default('public'),
  // Connections per worker (order lookups) and per writer thread.
  PG_POOL_MAX: int('PG_POOL_MAX', 4, 1, 100),
  // Stream entries per write: one multi-row statement each. 500 rows keep a statement well under
  // a few milliseconds while a storm's backlog drains in a handful of round trips.
  WRITER_BATCH: int('WRITER_BATCH', 500, 1, 10000),
  WRITER_THREADS: int('WRITER_THREADS', 1, 1, 64),
  // The consumer name in the writers' group: stable across restarts, so a restarted node re-reads
  // its own pending entries first. Default: <hostname>:<PORT>.
  WRITER_NAME: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,100}$/, 'WRITER_NAME must be 1..100 chars of [A-Za-z0-9_.:-]')
    .optional(),
  // An entry pending this long with another consumer is taken over (that consumer is dead).
  WRITER_CLAIM_IDLE_MS: int('WRITER_CLAIM_IDLE_MS', 30000, 100, 3600000),
  // Deliveries of an entry PostgreSQL keeps refusing before it moves to the dead-letter stream.
  WRITER_MAX_DELIVERIES: int('WRITER_MAX_DELIVERIES', 5, 1, 1000),
  // How often an idle writer looks for new entries: the floor of an order's time to PostgreSQL.
  WRITER_IDLE_MS: int('WRITER_IDLE_MS', 20, 1, 10000),
  // How often reserved orders past their deadline are expired and their units returned.
  SWEEP_MS: int('SWEEP_MS', 1000, 50, 600000),
  // How often Redis and PostgreSQL are compared (drift reported as metrics and logs); 0 = never.
  RECONCILE_INTERVAL_MS: int('RECONCILE_INTERVAL_MS', 60000, 0, 86400000),
  SHUTDOWN_TIMEOUT_MS: int('SHUTDOWN_TIMEOUT_MS', 10000, 100, 600000),
  // Test hook for the crash tests: the order writer kills its process (SIGKILL) at this step.
  SECKILL_CRASH_AT: z
    .enum(['after-read', 'after-insert', 'after-commit'], {
      error: 'SECKILL_CRASH_AT must be after-read, after-insert or after-commit',
    })
    .optional(),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
})

export type Config = Readonly<z.infer<typeof schema> & { WRITER_NAME: string }>

/** The variables a command-line tool needs to reach the stores (no admin token, no port). */
export type StoreConfig = Readonly<
  Pick<
    Config,
    'REDIS_URL' | 'REDIS_PREFIX' | 'REDIS_TIMEOUT_MS' | 'DATABASE_URL' | 'PG_SCHEMA' | 'LOG_LEVEL'
  >
>

export function loadStoreConfig(env: NodeJS.ProcessEnv = process.env): StoreConfig {
  const result = schema
    .pick({
      REDIS_URL: true,
      REDIS_PREFIX: true,
      REDIS_TIMEOUT_MS: true,
      DATABASE_URL: true,
      PG_SCHEMA: true,
      LOG_LEVEL: true,
    })
    .safeParse(env)
  if (!result.success) throw new ConfigError(describe(result.error))
  return Object.freeze(result.data)
}

function describe(err: z.ZodError): string {
  const lines = err.issues.map((i) => `  ${String(i.path[0])}: ${i.message}`)
  return `invalid configuration:\n${lines.join('\n')}`
}

export class ConfigError extends Error {
  readonly code = 'config_invalid'
}

/** Parse and freeze the configuration; throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = schema.safeParse(env)
  if (!result.success) throw new ConfigError(describe(result.error))
  const c = result.data
  return Object.freeze({ ...c, WRITER_NAME: c.WRITER_NAME ?? `${hostname()}:${c.PORT}` })
}
