import { availableParallelism, hostname } from 'node:os'
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config'

const TOKEN = 'a-token-of-16+ch'

/** The ConfigError loadConfig throws for `env`; fails the test if it does not throw one. */
function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('loadConfig accepted a bad configuration')
}

t.test('with only the admin token set, every variable takes its documented default', async (t) => {
  t.strictSame(loadConfig({ SECKILL_ADMIN_TOKEN: TOKEN }), {
    PORT: 3005,
    HOST: '0.0.0.0',
    WORKERS: availableParallelism(),
    REDIS_URL: 'redis://127.0.0.1:6379',
    REDIS_CLUSTER: 'off',
    REDIS_PREFIX: 'sk:',
    SECKILL_ADMIN_TOKEN: TOKEN,
    DEFAULT_SALE: '',
    BATCH_MODE: 'waiting',
    BATCH_WINDOW_US: 1000,
    BATCH_MAX: 128,
    BATCH_IN_FLIGHT: 1,
    RESERVE_MODE: 'inline',
    PISCINA_THREADS: 1,
    QUOTA_CHUNK: 500,
    PARK_MAX: 20000,
    PARK_TIMEOUT_MS: 5000,
    RATE_LIMIT_PER_USER: 0,
    RATE_LIMIT_PER_IP: 0,
    BUYER_IDENTITY: 'asserted',
    BUYER_JWT_LEEWAY_S: 5,
    BUYER_TOKEN_CACHE: 10000,
    SALE_POLL_MS: 200,
    SALE_RESYNC_MS: 30000,
    PURCHASE_TIMEOUT_MS: 500,
    REDIS_TIMEOUT_MS: 2000,
    REDIS_DURABILITY: 'any',
    SHUTDOWN_TIMEOUT_MS: 10000,
    MAX_WORKER_RSS_MB: 0,
    RUN_DIR: 'run',
    DATABASE_URL: '',
    PG_SCHEMA: 'public',
    PG_POOL_MAX: 4,
    WRITER_BATCH: 500,
    WRITER_THREADS: 1,
    WRITER_NAME: `${hostname()}:3005`,
    WRITER_CLAIM_IDLE_MS: 10000,
    WRITER_MAX_DELIVERIES: 5,
    WRITER_IDLE_MS: 60000,
    SWEEP_MS: 1000,
    ORDER_RETENTION_S: 3600,
    RECONCILE_INTERVAL_MS: 60000,
    SECKILL_CRASH_AFTER: 0,
    LOG_LEVEL: 'info',
    LOG_FORMAT: 'auto',
    LOG_FILE: '',
    DATA_DIR: './data',
    LOCAL_SERVICES: 'auto',
    LOCAL_PROBE_REDIS_PORT: 6379,
    LOCAL_PROBE_PG_PORT: 5432,
  })
})

t.test('numeric strings from the environment become numbers', async (t) => {
  const c = loadConfig({
    SECKILL_ADMIN_TOKEN: TOKEN,
    PORT: '8080',
    WORKERS: '3',
    BATCH_WINDOW_US: '0',
    BATCH_MAX: '1000',
    QUOTA_CHUNK: '1',
    PARK_MAX: '0',
  })
  t.equal(c.PORT, 8080)
  t.equal(c.WORKERS, 3)
  t.equal(c.BATCH_WINDOW_US, 0)
  t.equal(c.BATCH_MAX, 1000)
  t.equal(c.QUOTA_CHUNK, 1)
  t.equal(c.PARK_MAX, 0)
})

t.test('variables this server does not know are not copied into the config', async (t) => {
  const c = loadConfig({ SECKILL_ADMIN_TOKEN: TOKEN, PATH: '/usr/bin', HOME: '/root' })
  t.notOk('PATH' in c)
  t.notOk('HOME' in c)
})

t.test('the configuration is frozen', async (t) => {
  const c = loadConfig({ SECKILL_ADMIN_TOKEN: TOKEN, RESERVE_MODE: 'piscina' })
  t.equal(c.RESERVE_MODE, 'piscina')
  t.ok(Object.isFrozen(c))
  t.throws(() => {
    ;(c as { PORT: number }).PORT = 1
  }, TypeError)
  t.equal(c.PORT, 3005)
})

t.test('every bad variable is named, with its range, in one ConfigError', async (t) => {
  const err = configError({ PORT: '0', WORKERS: 'abc', RESERVE_MODE: 'x' })
  t.equal(err.code, 'config_invalid')
  t.equal(
    err.message,
    [
      'invalid configuration:',
      '  PORT: PORT must be an integer in 1..65535',
      '  WORKERS: WORKERS must be an integer in 1..256',
      '  SECKILL_ADMIN_TOKEN: SECKILL_ADMIN_TOKEN must be at least 16 characters',
      '  RESERVE_MODE: RESERVE_MODE must be piscina or inline',
    ].join('\n'),
  )
})

t.test('a missing admin token is refused with the rule it breaks', async (t) => {
  t.equal(
    configError({}).message,
    'invalid configuration:\n  SECKILL_ADMIN_TOKEN: SECKILL_ADMIN_TOKEN must be at least 16 characters',
  )
  t.equal(
    configError({ SECKILL_ADMIN_TOKEN: 'short' }).message,
    'invalid configuration:\n  SECKILL_ADMIN_TOKEN: SECKILL_ADMIN_TOKEN must be at least 16 characters',
  )
})

t.test('a value outside its range or not an integer names its range', async (t) => {
  const cases: [string, string, string][] = [
    ['PORT', '65536', 'PORT must be an integer in 1..65535'],
    ['WORKERS', '1.5', 'WORKERS must be an integer in 1..256'],
    ['BATCH_MAX', '1001', 'BATCH_MAX must be an integer in 1..1000'],
    ['BATCH_WINDOW_US', '-1', 'BATCH_WINDOW_US must be an integer in 0..100000'],
    ['PARK_TIMEOUT_MS', '9', 'PARK_TIMEOUT_MS must be an integer in 10..600000'],
    ['REDIS_URL', 'http://x', 'REDIS_URL must look like redis://host:port[/db]'],
    ['REDIS_PREFIX', 'a b', 'REDIS_PREFIX must be 0..64 chars of [A-Za-z0-9_:.-]'],
    [
      'LOG_LEVEL',
      'loud',
      'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent',
    ],
    ['LOG_FORMAT', 'loud', 'LOG_FORMAT must be auto, json or pretty'],
    ['LOCAL_SERVICES', 'yes', 'LOCAL_SERVICES must be auto or off'],
    ['REDIS_CLUSTER', 'yes', 'REDIS_CLUSTER must be on or off'],
    ['LOCAL_PROBE_PG_PORT', '0', 'LOCAL_PROBE_PG_PORT must be an integer in 1..65535'],
  ]
  for (const [name, value, message] of cases) {
    t.equal(
      configError({ SECKILL_ADMIN_TOKEN: TOKEN, [name]: value }).message,
      `invalid configuration:\n  ${name}: ${message}`,
      `${name}=${value}`,
    )
  }
})

t.test('REDIS_CLUSTER=on takes one or more comma-separated seed nodes in REDIS_URL', async (t) => {
  const one = loadConfig({
    SECKILL_ADMIN_TOKEN: TOKEN,
    REDIS_CLUSTER: 'on',
    REDIS_URL: 'redis://10.0.0.1:7000',
  })
  t.equal(one.REDIS_CLUSTER, 'on')
  const seeds = 'redis://:pw@10.0.0.1:7000, redis://:pw@10.0.0.2:7000/0'
  t.equal(
    loadConfig({ SECKILL_ADMIN_TOKEN: TOKEN, REDIS_CLUSTER: 'on', REDIS_URL: seeds }).REDIS_URL,
    seeds,
  )
})

t.test('a REDIS_URL that does not fit REDIS_CLUSTER is refused, naming REDIS_URL', async (t) => {
  const cases: [Record<string, string>, string][] = [
    [
      { REDIS_URL: 'redis://a:7000,redis://b:7000' },
      'REDIS_URL names several nodes (comma-separated), which only a Redis Cluster has: set ' +
        'REDIS_CLUSTER=on, or give one redis://host:port[/db]',
    ],
    [
      { REDIS_CLUSTER: 'on', REDIS_URL: 'redis://a:7000,b:7000' },
      'with REDIS_CLUSTER=on, REDIS_URL must be redis://host:port seed nodes, comma-separated; ' +
        '"b:7000" is not one',
    ],
    [
      { REDIS_CLUSTER: 'on', REDIS_URL: 'redis://a:7000/2' },
      'a Redis Cluster has only database 0; remove /2 from the seed URL',
    ],
  ]
  for (const [env, message] of cases) {
    t.equal(
      configError({ SECKILL_ADMIN_TOKEN: TOKEN, ...env }).message,
      `invalid configuration:\n  REDIS_URL: ${message}`,
      JSON.stringify(env),
    )
  }
})
