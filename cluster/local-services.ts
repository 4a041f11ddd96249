import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join, resolve } from 'node:path'
import { nodeRunning, readPid } from '../src/control/run-files'
import { createPool, redactPgUrl } from '../src/db/pg'
import { log } from '../src/log'
import { redactUrl } from '../src/store/redis'
import { findOnPath, type LocalServer, signalAll } from './local-child'
import { type PgRunner, pgDataExists, pgRunner, startLocalPg } from './local-pg'
import { redisDataExists, startLocalRedis } from './local-redis'
import { type LocalStores, type NodeConfig, withStores } from './node-config'
import { StartRefused } from './node-stores'

/**
 * `npm start` on a machine with nothing configured: when no Redis is given (REDIS_URL from no
 * source) and nothing answers on 127.0.0.1:6379, the node starts a private redis-server from
 * PATH; when no PostgreSQL is given (DATABASE_URL, or the PG* variables node-postgres reads)
 * and none takes a connection at its defaults, an embedded PostgreSQL. Both keep their data in
 * DATA_DIR, start before the primary and stop after it. Never a mock: without redis-server the
 * start stops with how to install it.
 *
 * Once DATA_DIR holds a local service's data the node keeps using it, without looking at the
 * default address first: a Redis that appears on 6379 later (another project's, one started at
 * boot) must not silently replace the one that holds this node's sales and unwritten orders.
 * Configure REDIS_URL/DATABASE_URL to move to another server; LOCAL_SERVICES=off to never start
 * one (what a production node should say).
 */
export interface LocalServices {
  /** the node with its stores' addresses settled: the local services' or the ones it found */
  readonly node: NodeConfig
  /** what the start line says about them */
  readonly stores: LocalStores
  /** the entry's own SIGTERM/SIGINT handler is in place: signals are no longer handled here */
  handOver(): void
  /** stop every local service (each flushes its data first); safe to call twice */
  stop(): Promise<void>
}

/** The variables node-postgres reads when DATABASE_URL is empty: any of them names a server. */
export const PG_VARIABLES = [
  'PGHOST',
  'PGHOSTADDR',
  'PGPORT',
  'PGDATABASE',
  'PGUSER',
  'PGPASSWORD',
  'PGSERVICE',
]

/** How long the default address may take to accept a connection before it counts as empty. */
const PROBE_MS = 1000

const INSTALL_REDIS =
  'install Redis (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis)'

export async function startLocalServices(node: NodeConfig): Promise<LocalServices> {
  const c = node.config
  const none = passThrough(node)
  if (c.LOCAL_SERVICES === 'off') return none
  // A Redis Cluster is never started here: REDIS_CLUSTER=on says the operator runs one.
  const redisGiven = node.origin('REDIS_URL') !== 'default' || c.REDIS_CLUSTER === 'on'
  const pgGiven = node.origin('DATABASE_URL') !== 'default' || PG_VARIABLES.some((v) => node.env[v])
  if (redisGiven && pgGiven) return none

  const dataDir = resolve(c.DATA_DIR)
  const redisDir = join(dataDir, 'redis')
  const pgDir = join(dataDir, 'pg')
  const found: { REDIS_URL?: string; DATABASE_URL?: string } = {}
  let redisServer: string | null = null
  // Redis first: a missing redis-server stops the start before PostgreSQL is initialised.
  if (!redisGiven) {
    const probe = `redis://127.0.0.1:${c.LOCAL_PROBE_REDIS_PORT}`
    const kept = redisDataExists(redisDir)
    if (kept) {
      log.info({ dir: redisDir }, 'Redis: this node keeps using the local Redis that has its data')
    } else if (await tcpAnswers('127.0.0.1', c.LOCAL_PROBE_REDIS_PORT)) {
      found.REDIS_URL = probe
    } else {
      log.info({ probed: probe }, 'Redis: none given and none answers: starting a local one')
    }
    if (found.REDIS_URL === undefined) {
      redisServer = findOnPath('redis-server', node.env.PATH)
      if (redisServer === null) {
        const why = kept
          ? `the local Redis in ${redisDir} holds this node's data`
          : `Redis is not reachable at ${probe}`
        throw new StartRefused(
          `${why} and redis-server is not on PATH to start one here: ${INSTALL_REDIS}, ` +
            'or set REDIS_URL',
        )
      }
    }
  }
  let pgLocal = false
  if (!pgGiven) {
    if (pgDataExists(pgDir)) {
      log.info({ dir: pgDir }, 'PostgreSQL: this node keeps using the local one that has its data')
      pgLocal = true
    } else {
      // The defaults as the node would use them; a moved probe port names 127.0.0.1 instead.
      const url =
        c.LOCAL_PROBE_PG_PORT === 5432 ? '' : `postgres://127.0.0.1:${c.LOCAL_PROBE_PG_PORT}`
      const refused = await pgRefuses(url, c.PG_SCHEMA)
      if (refused === null) {
        if (url !== '') found.DATABASE_URL = url
      } else {
        log.info(
          { probed: url || 'the PG* defaults', reason: refused },
          'PostgreSQL: none given and none takes a connection: starting a local one',
        )
        pgLocal = true
      }
    }
  }
  if (redisServer === null && !pgLocal) return { ...none, node: withStores(node, found) }
  // Everything a local PostgreSQL needs is checked before anything starts.
  const pgBin: PgRunner | null = pgLocal ? pgRunner() : null

  const lock = claimDataDir(dataDir)
  const started: LocalServer[] = []
  const stopAll = once(async () => {
    // PostgreSQL first: the order writer is done with it, and Redis keeps what it did not write.
    for (const s of started.reverse()) {
      await s.stop().catch((err: Error) => log.error({ err: err.message }, 'stopping failed'))
    }
    lock.release()
  })
  // A SIGTERM or Ctrl-C while the services start (initdb takes seconds) stops what is up.
  const onSignal = (signal: string) => {
    log.warn({ signal }, 'stopped while starting: stopping the local services')
    // One still starting is not in `started` yet: it is asked to stop too.
    signalAll()
    void stopAll().finally(() => process.exit(1))
  }
  const signals = ['SIGTERM', 'SIGINT'] as const
  for (const s of signals) process.on(s, onSignal)
  const handOver = () => {
    for (const s of signals) process.off(s, onSignal)
  }
  const stores: { redisDir?: string; pgDir?: string } = {}
  try {
    if (redisServer !== null) {
      const redis = await startLocalRedis(redisDir, redisServer)
      started.push(redis)
      found.REDIS_URL = redis.url
      stores.redisDir = redisDir
      log.info(
        { url: redactUrl(redis.url), dir: redisDir, serverPid: redis.pid },
        'local Redis started (AOF, appendfsync everysec); it stops with the node',
      )
    }
    if (pgBin !== null) {
      const pg = await startLocalPg(pgDir, c, pgBin)
      started.push(pg)
      found.DATABASE_URL = pg.url
      stores.pgDir = pgDir
      log.info(
        { url: redactPgUrl(pg.url), dir: pgDir, serverPid: pg.pid },
        'local PostgreSQL started; it stops with the node',
      )
    }
  } catch (err) {
    await stopAll()
    handOver()
    throw err
  }
  return { node: withStores(node, found), stores, handOver, stop: stopAll }
}

function passThrough(node: NodeConfig): LocalServices {
  return { node, stores: {}, handOver() {}, stop: async () => {} }
}

/** Whether something accepts a TCP connection at host:port within PROBE_MS. */
function tcpAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host, port })
    const finish = (ok: boolean) => {
      socket.destroy()
      done(ok)
    }
    socket.setTimeout(PROBE_MS, () => finish(false))
    socket.once('connect', () => finish(true))
    socket.once('error', () => finish(false))
  })
}

/** Null when PostgreSQL at `url` ('' for the PG* defaults) runs a query, else why not. */
async function pgRefuses(url: string, schema: string): Promise<string | null> {
  const pool = createPool({ url, schema, max: 1, name: 'seckill-probe' })
  try {
    await pool.query('SELECT 1')
    return null
  } catch (err) {
    return (err as Error).message
  } finally {
    await pool.end().catch(() => {})
  }
}

/**
 * One node per DATA_DIR: its pid in DATA_DIR/node.pid while it runs its services there. A second
 * node on the same directory would kill or share the first one's servers; it is refused. A pid
 * file left by a node that was killed names a dead process (or another program) and is taken.
 */
function claimDataDir(dataDir: string): { release(): void } {
  // As root the postgres account runs PostgreSQL in DATA_DIR/pg and must reach it: the data
  // directory is traversable, each service's own directory is not (0700).
  mkdirSync(dataDir, { recursive: true, mode: process.getuid?.() === 0 ? 0o755 : 0o700 })
  const file = join(dataDir, 'node.pid')
  const pid = readPid(file)
  if (pid !== null && pid !== process.pid && nodeRunning(pid)) {
    throw new StartRefused(
      `${dataDir} holds the local services of the running node with pid ${pid}: stop that ` +
        'node, or give this one a DATA_DIR of its own',
    )
  }
  writeFileSync(file, `${process.pid}\n`)
  return { release: () => rmSync(file, { force: true }) }
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | null = null
  return () => {
    running ??= fn()
    return running
  }
}
