import { createPublicKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
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
  // With REDIS_CLUSTER=on, one or more seed nodes of the cluster, comma-separated (checked in
  // redisProblems: the rule depends on REDIS_CLUSTER).
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'REDIS_URL must look like redis://host:port[/db]')
    .default('redis://127.0.0.1:6379'),
  // on: REDIS_URL names a Redis Cluster (src/store/redis.ts). Every key of a sale carries its
  // {saleId} hash tag, so each script and MULTI runs on one shard, unchanged.
  REDIS_CLUSTER: z.enum(['on', 'off'], { error: 'REDIS_CLUSTER must be on or off' }).default('off'),
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
  // How a batch is closed (src/purchase/batcher.ts): `waiting` sends at once when the sale has no
  // batch in flight and collects while it has one; `window` waits BATCH_WINDOW_US.
  BATCH_MODE: z
    .enum(['waiting', 'window'], { error: 'BATCH_MODE must be waiting or window' })
    .default('waiting'),
  // In window mode: 1 ms keeps the added latency of a winner below the network jitter, while a
  // storm still fills batches by BATCH_MAX long before the window ends.
  BATCH_WINDOW_US: int('BATCH_WINDOW_US', 1000, 0, 100000),
  BATCH_MAX: int('BATCH_MAX', 128, 1, 1000),
  // Waiting mode: batches of one sale out to Redis at once per worker (README, Benchmarks).
  BATCH_IN_FLIGHT: int('BATCH_IN_FLIGHT', 1, 1, 16),
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
  // Purchase requests per second (wall-clock windows) one buyer, or one client address, may send
  // to the node, all workers together (src/http/rate-limit.ts), before 429; 0 turns it off.
  RATE_LIMIT_PER_USER: int('RATE_LIMIT_PER_USER', 0, 0, 1000000),
  RATE_LIMIT_PER_IP: int('RATE_LIMIT_PER_IP', 0, 0, 1000000),
  // Who the buyer is (API.md "Buyer identity"): what the request asserts (the Go reference's
  // behaviour, the default), or the `sub` of a JWT from the operator's login system.
  BUYER_IDENTITY: z
    .enum(['asserted', 'signed'], { error: 'BUYER_IDENTITY must be asserted or signed' })
    .default('asserted'),
  // HS256: RFC 7518 wants an HMAC key at least as long as the hash (32 bytes for SHA-256).
  BUYER_JWT_SECRET: z
    .string()
    .refine(
      (s) => Buffer.byteLength(s) >= 32,
      'BUYER_JWT_SECRET must be at least 32 bytes (HS256 key)',
    )
    .optional(),
  // EdDSA: the PEM text, or the path of a PEM file, read here once so a bad key stops the start.
  BUYER_JWT_PUBLIC_KEY: z
    .string()
    .transform((v, ctx) => {
      const pem = ed25519Pem(v)
      if (pem === null) {
        ctx.addIssue({
          code: 'custom',
          message:
            'BUYER_JWT_PUBLIC_KEY must be an Ed25519 public key: PEM text or the path of a PEM file',
        })
        return z.NEVER
      }
      return pem
    })
    .optional(),
  BUYER_JWT_ISSUER: z.string().min(1).optional(),
  BUYER_JWT_AUDIENCE: z.string().min(1).optional(),
  // Clock skew allowed between the login system and this host, for exp and nbf.
  BUYER_JWT_LEEWAY_S: int('BUYER_JWT_LEEWAY_S', 5, 0, 300),
  // Verified tokens kept per worker (two generations of this many, src/buyer-token.ts): a buyer
  // who presses "buy" again costs a Map lookup, not an Ed25519 check (~11k/s on one core).
  BUYER_TOKEN_CACHE: int('BUYER_TOKEN_CACHE', 10000, 0, 10000000),
  // The shortest gap between two reads of a sale whose bell keeps ringing (a busy sale rings
  // with every batch): its sold count reaches the workers this often.
  SALE_POLL_MS: int('SALE_POLL_MS', 200, 10, 60000),
  // How often the primary reads every sale whatever its bell said: the safety net for a missed
  // bell (a sale is otherwise re-read when its bell rings, and after the bell reconnects). Each
  // pass reads every sale: at 10 s, 1,000 idle sales took ~0.6 % of a core; 30 s is a third.
  SALE_RESYNC_MS: int('SALE_RESYNC_MS', 30000, 100, 3600000),
  // The longest a buyer waits on Redis: a batch unanswered this long is answered 503
  // outcome_unknown (it may have been reserved). A few hundred ms is far above a healthy batch's
  // round trip (under 15 ms at p99 in the benchmarks) and well below a client's patience.
  PURCHASE_TIMEOUT_MS: int('PURCHASE_TIMEOUT_MS', 500, 10, 60000),
  // What Redis must promise about acknowledged writes before the node starts: any (warn when it
  // keeps no AOF, so a stock Redis still works), aof (appendonly yes with appendfsync everysec or
  // always: the production setting), aof-always (appendfsync always).
  REDIS_DURABILITY: z
    .enum(['any', 'aof', 'aof-always'], {
      error: 'REDIS_DURABILITY must be any, aof or aof-always',
    })
    .default('any'),
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
  // Stream entries per XREADGROUP. While a backlog drains, a step's transactions take several
  // reads (up to 5,000 rows, write-step.ts), so this only sizes a Redis call, and smaller ones
  // are cheaper: bench/writer-parts.ts, runs taking turns on 2 cores, read 100,000 entries in
  // 493 and 518 ms by 500 against 957 and 779 ms by 2,000, and drained 54.6k and 55.5k rows/s
  // against 19.8k and 47.8k. Each call is also a short stall for the buyers' scripts.
  WRITER_BATCH: int('WRITER_BATCH', 500, 1, 10000),
  WRITER_THREADS: int('WRITER_THREADS', 1, 1, 64),
  // The consumer name in the writers' group: stable across restarts, so a restarted node re-reads
  // its own pending entries first. Default: <hostname>:<PORT>.
  WRITER_NAME: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,100}$/, 'WRITER_NAME must be 1..100 chars of [A-Za-z0-9_.:-]')
    .optional(),
  // An entry pending this long with another consumer is taken over (that consumer is dead): how
  // long a dead node's orders wait for PostgreSQL. A live writer never leaves its own entries
  // idle for more than its longest back-off (5 s, while PostgreSQL is down: each retry re-reads
  // them, which resets their idle time) plus one step; twice that keeps live writers from taking
  // each other's entries, and a taken entry would only be written twice (the upsert is
  // idempotent), never lost.
  WRITER_CLAIM_IDLE_MS: int('WRITER_CLAIM_IDLE_MS', 10000, 100, 3600000),
  // Deliveries of an entry PostgreSQL keeps refusing before it moves to the dead-letter stream.
  WRITER_MAX_DELIVERIES: int('WRITER_MAX_DELIVERIES', 5, 1, 1000),
  // The writer reads a sale's stream when the sale's bell rings (the scripts publish when they
  // append). This is its safety net for a missed bell: how often it reads every stream anyway.
  // 60 s: 1,000 idle sales cost 17 reads a second; an order whose bell was lost (a subscriber that
  // died without a word) waits that long for PostgreSQL, safe in Redis meanwhile.
  WRITER_IDLE_MS: int('WRITER_IDLE_MS', 60000, 100, 3600000),
  // How often reserved orders past their deadline are expired and their units returned.
  SWEEP_MS: int('SWEEP_MS', 1000, 50, 600000),
  // How long a cancelled or expired order stays in Redis once PostgreSQL has it (replays with its
  // Idempotency-Key answer it until then); 0 keeps every order for the sale's life. An hour
  // outlasts any client's retries by far, and bounds Redis by the orders of the last hour.
  ORDER_RETENTION_S: int('ORDER_RETENTION_S', 3600, 0, 2592000),
  // How often Redis and PostgreSQL are compared (drift reported as metrics and logs); 0 = never.
  RECONCILE_INTERVAL_MS: int('RECONCILE_INTERVAL_MS', 60000, 0, 86400000),
  SHUTDOWN_TIMEOUT_MS: int('SHUTDOWN_TIMEOUT_MS', 10000, 100, 600000),
  // PM2's max_memory_restart: a worker whose RSS passes this is replaced (as by a reload); 0: never.
  MAX_WORKER_RSS_MB: int('MAX_WORKER_RSS_MB', 0, 0, 1048576),
  // The pid file, control socket and (seckill start -d) log of the node, named by its port.
  RUN_DIR: z.string().min(1).default('run'),
  // Test hook for the crash tests: the order writer kills its process (SIGKILL) at this step.
  SECKILL_CRASH_AT: z
    .enum(['after-read', 'after-insert', 'after-commit'], {
      error: 'SECKILL_CRASH_AT must be after-read, after-insert or after-commit',
    })
    .optional(),
  // ... once the writer thread has read this many order stream entries (0: at the first read).
  SECKILL_CRASH_AFTER: int('SECKILL_CRASH_AFTER', 0, 0, 1000000000),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
  // auto: readable lines on a terminal, JSON lines otherwise (a pipe, a file, a service manager).
  LOG_FORMAT: z
    .enum(['auto', 'json', 'pretty'], { error: 'LOG_FORMAT must be auto, json or pretty' })
    .default('auto'),
  // JSON lines appended to this file instead of stdout, reopened on SIGUSR2 (logrotate's habit).
  LOG_FILE: z.string().default(''),
  // Where a node keeps the Redis and PostgreSQL it starts itself (cluster/local-services.ts),
  // relative to the working directory: `npm start` run in the checkout keeps them beside it.
  DATA_DIR: z.string().min(1, 'DATA_DIR must be a directory path').default('./data'),
  // auto: with no Redis or PostgreSQL given and none answering at the default address, the node
  // starts its own; off: never (a production node is told where its stores are, and must fail
  // rather than sell into a private Redis nobody else sees).
  LOCAL_SERVICES: z
    .enum(['auto', 'off'], { error: 'LOCAL_SERVICES must be auto or off' })
    .default('auto'),
  // The ports on 127.0.0.1 where a node with nothing configured looks for a Redis and a
  // PostgreSQL before it starts its own: the standard ones; tests move them to a free port.
  LOCAL_PROBE_REDIS_PORT: int('LOCAL_PROBE_REDIS_PORT', 6379, 1, 65535),
  LOCAL_PROBE_PG_PORT: int('LOCAL_PROBE_PG_PORT', 5432, 1, 65535),
})

export type Config = Readonly<z.infer<typeof schema> & { WRITER_NAME: string }>

/** Every configuration variable, in the schema's order (what a config file may set). */
export const CONFIG_KEYS: readonly string[] = Object.freeze(Object.keys(schema.shape))

/** The PEM of an Ed25519 public key given as PEM text or a file path, or null. */
function ed25519Pem(value: string): string | null {
  try {
    const pem = value.includes('-----BEGIN') ? value : readFileSync(value, 'utf8')
    return createPublicKey(pem).asymmetricKeyType === 'ed25519' ? pem : null
  } catch {
    return null
  }
}

/** What is wrong between the buyer-identity variables, as `describe` lines (none: all is well). */
function buyerIdentityProblems(c: z.infer<typeof schema>): string[] {
  const key = c.BUYER_JWT_SECRET !== undefined || c.BUYER_JWT_PUBLIC_KEY !== undefined
  if (c.BUYER_IDENTITY === 'asserted') {
    // A key with asserted identity is an operator who believes tokens are checked: they are not.
    const set: string[] = []
    if (c.BUYER_JWT_SECRET !== undefined) set.push('BUYER_JWT_SECRET')
    if (c.BUYER_JWT_PUBLIC_KEY !== undefined) set.push('BUYER_JWT_PUBLIC_KEY')
    return set.map((n) => `  ${n}: ${n} is set but BUYER_IDENTITY is asserted (set it to signed)`)
  }
  if (!key) {
    return [
      '  BUYER_IDENTITY: BUYER_IDENTITY=signed needs BUYER_JWT_SECRET or BUYER_JWT_PUBLIC_KEY',
    ]
  }
  // One key, one algorithm: the verifier never picks its key from the token's own header.
  if (c.BUYER_JWT_SECRET !== undefined && c.BUYER_JWT_PUBLIC_KEY !== undefined) {
    return ['  BUYER_JWT_PUBLIC_KEY: set only one of BUYER_JWT_SECRET and BUYER_JWT_PUBLIC_KEY']
  }
  return []
}

function redisUrlOf(u: string): URL | null {
  if (!/^rediss?:\/\//.test(u)) return null
  try {
    return new URL(u)
  } catch {
    return null
  }
}

/**
 * What is wrong with REDIS_URL given REDIS_CLUSTER, as `describe` lines: several seeds only name
 * a cluster, and a cluster has only database 0 (a /db in the URL would be silently ignored).
 */
function redisProblems(c: Pick<Config, 'REDIS_URL' | 'REDIS_CLUSTER'>): string[] {
  const urls = c.REDIS_URL.split(',').map((u) => u.trim())
  if (c.REDIS_CLUSTER === 'off') {
    return urls.length > 1
      ? [
          '  REDIS_URL: REDIS_URL names several nodes (comma-separated), which only a Redis ' +
            'Cluster has: set REDIS_CLUSTER=on, or give one redis://host:port[/db]',
        ]
      : []
  }
  const problems: string[] = []
  for (const u of urls) {
    const url = redisUrlOf(u)
    if (url === null || url.hostname === '') {
      problems.push(
        `  REDIS_URL: with REDIS_CLUSTER=on, REDIS_URL must be redis://host:port seed nodes, ` +
          `comma-separated; "${u}" is not one`,
      )
    } else if (url.pathname !== '' && url.pathname !== '/' && url.pathname !== '/0') {
      problems.push(
        `  REDIS_URL: a Redis Cluster has only database 0; remove ${url.pathname} from the seed URL`,
      )
    }
  }
  return problems
}

/** The variables a command-line tool needs to reach the stores (no admin token, no port). */
export type StoreConfig = Readonly<
  Pick<
    Config,
    | 'REDIS_URL'
    | 'REDIS_CLUSTER'
    | 'REDIS_PREFIX'
    | 'REDIS_TIMEOUT_MS'
    | 'DATABASE_URL'
    | 'PG_SCHEMA'
    | 'LOG_LEVEL'
  >
>

export function loadStoreConfig(env: NodeJS.ProcessEnv = process.env): StoreConfig {
  const result = schema
    .pick({
      REDIS_URL: true,
      REDIS_CLUSTER: true,
      REDIS_PREFIX: true,
      REDIS_TIMEOUT_MS: true,
      DATABASE_URL: true,
      PG_SCHEMA: true,
      LOG_LEVEL: true,
    })
    .safeParse(env)
  if (!result.success) throw new ConfigError(describe(result.error))
  const problems = redisProblems(result.data)
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`)
  return Object.freeze(result.data)
}

/**
 * The variables a command-line tool needs to find and drive a running node: where it listens,
 * where its run files are, how long it may take to stop, where it logs.
 */
export type RunConfig = Readonly<
  Pick<Config, 'PORT' | 'HOST' | 'RUN_DIR' | 'SHUTDOWN_TIMEOUT_MS' | 'LOG_FILE'>
>

export function loadRunConfig(env: NodeJS.ProcessEnv = process.env): RunConfig {
  const result = schema
    .pick({ PORT: true, HOST: true, RUN_DIR: true, SHUTDOWN_TIMEOUT_MS: true, LOG_FILE: true })
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
  const problems = [...redisProblems(c), ...buyerIdentityProblems(c)]
  if (problems.length > 0) {
    throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`)
  }
  return Object.freeze({ ...c, WRITER_NAME: c.WRITER_NAME ?? `${hostname()}:${c.PORT}` })
}
