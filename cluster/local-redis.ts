import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Redis from 'ioredis'
import { freePort, LocalChild, type LocalServer, stopLeftover } from './local-child'

/**
 * The private redis-server of a node with no Redis given (cluster/local-services.ts): its data
 * in DATA_DIR/redis, as durable as DESIGN.md asks of the stock store (AOF, fsync every second:
 * a killed Redis loses nothing it acknowledged), never evicting, reachable only from this host
 * and only with its password.
 */
/** What survives a restart of the node, so it finds its data where it left it. */
interface RedisState {
  readonly port: number
  readonly password: string
}

/** Loading a large AOF takes a while; the node is useless until it is done. */
const READY_MS = 60_000
/** SHUTDOWN fsyncs the AOF and exits; a Redis busy past this is killed (AOF keeps ~1 s). */
const STOP_MS = 15_000

export function redisDataExists(dir: string): boolean {
  return existsSync(join(dir, 'service.json'))
}

export async function startLocalRedis(dir: string, redisServer: string): Promise<LocalServer> {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const stateFile = join(dir, 'service.json')
  const saved = existsSync(stateFile)
    ? (JSON.parse(readFileSync(stateFile, 'utf8')) as RedisState)
    : null
  const pidFile = join(dir, 'redis.pid')
  await stopLeftover(pidFile, 'redis-server', 'SIGTERM', STOP_MS)
  // The same port as last time when it is free: an operator's redis-cli line keeps working.
  const state: RedisState = {
    port: await freePort(saved?.port ?? 0),
    password: saved?.password ?? randomBytes(24).toString('base64url'),
  }
  writeFileSync(stateFile, `${JSON.stringify(state)}\n`, { mode: 0o600 })
  const conf = join(dir, 'redis.conf')
  writeFileSync(conf, redisConf(dir, pidFile, state), { mode: 0o600 })

  const child = new LocalChild({
    name: 'redis-server',
    command: redisServer,
    args: [conf],
    logFile: join(dir, 'redis.log'),
  })
  const url = `redis://:${state.password}@127.0.0.1:${state.port}`
  child.launch()
  try {
    // Until its AOF is loaded Redis answers LOADING, not PONG.
    await child.ready(() => pings(url), READY_MS)
  } catch (err) {
    await child.stop(async (p) => void p.kill('SIGKILL'), STOP_MS)
    throw err
  }
  return {
    url,
    dir,
    get pid() {
      return child.pid
    },
    stop: () =>
      child.stop(async (p) => {
        if (!(await shutdown(url))) p.kill('SIGTERM')
      }, STOP_MS),
  }
}

/**
 * Written anew at every start (the settings follow the code; the data stays): the file holds the
 * password, so only its owner reads it, and no password shows in `ps`.
 */
function redisConf(dir: string, pidFile: string, s: RedisState): string {
  const q = (v: string) => JSON.stringify(v) // a double-quoted string, as redis.conf reads it
  return [
    '# Written by seckill at every start of a node that runs its own Redis: edits are lost.',
    'bind 127.0.0.1',
    `port ${s.port}`,
    'protected-mode yes',
    `requirepass ${q(s.password)}`,
    `dir ${q(dir)}`,
    // DESIGN.md: Redis holds orders until PostgreSQL has them, so its durability is part of "no
    // lost order": with AOF and everysec a killed Redis keeps every acknowledged write.
    'appendonly yes',
    'appendfsync everysec',
    // The AOF is the persistence: no RDB snapshots forking the server during a sale.
    'save ""',
    // An evicted stock key would oversell: the node refuses to start on anything else.
    'maxmemory-policy noeviction',
    // A child of the primary, stopped by it; its messages go to redis.log (our stdout redirect).
    'daemonize no',
    'logfile ""',
    `pidfile ${q(pidFile)}`,
    '',
  ].join('\n')
}

/** Whether the Redis at `url` answers PING (a refused connection or LOADING is a no). */
async function pings(url: string): Promise<boolean> {
  const c = new Redis(url, { lazyConnect: true, retryStrategy: () => null, connectTimeout: 1000 })
  c.on('error', () => {})
  try {
    await c.connect()
    return (await c.ping()) === 'PONG'
  } finally {
    c.disconnect()
  }
}

/**
 * SHUTDOWN: Redis fsyncs its AOF and exits. False when it could not be sent (no connection):
 * the caller then sends SIGTERM, which Redis handles the same way.
 */
async function shutdown(url: string): Promise<boolean> {
  const c = new Redis(url, { lazyConnect: true, retryStrategy: () => null, connectTimeout: 1000 })
  c.on('error', () => {})
  try {
    await c.connect()
  } catch {
    c.disconnect()
    return false
  }
  // No reply comes when it works: the connection closes as the server exits.
  await c.call('SHUTDOWN').catch(() => {})
  c.disconnect()
  return true
}
