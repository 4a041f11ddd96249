import type { Pool } from 'pg'
import type { Config } from '../src/config'
import { migrate } from '../src/db/migrations'
import { checkPg, createPool, pgOptionsOf } from '../src/db/pg'
import { log } from '../src/log'
import { describeDurability, durabilityShortfall, readDurability } from '../src/store/durability'
import { checkRedisPolicy, connectRedis } from '../src/store/redis'
import type { ScriptedRedis } from '../src/store/scripts'
import { redisAof, redisFsyncAlways } from './primary-metrics'

/**
 * The primary's connections to the stock store and the order store, each checked before the node
 * starts: Redis reachable and never evicting, as durable as REDIS_DURABILITY asks; PostgreSQL
 * reachable and migrated. A check that fails stops the start with what to do about it.
 */
/** The node must not start as configured (the entry exits 2, as for a bad configuration). */
export class StartRefused extends Error {
  readonly exitCode = 2
}

export interface NodeStores {
  readonly redis: ScriptedRedis
  /** the primary's own small pool (the sale mirror, the reconciler, migrations) */
  readonly pg: Pool
}

export async function openStores(config: Config): Promise<NodeStores> {
  const redis = await connectRedis(config, 'seckill-primary', config.REDIS_TIMEOUT_MS)
  await checkRedisPolicy(redis)
  await checkDurability(redis, config)
  const pg = createPool(pgOptionsOf(config, 'seckill-primary', 2))
  await checkPg(pg, config.DATABASE_URL)
  const applied = await migrate(pg, config.PG_SCHEMA)
  if (applied.length > 0) log.info({ versions: applied }, 'PostgreSQL schema migrated')
  return { redis, pg }
}

/** Say plainly what a Redis crash would lose; refuse to start below REDIS_DURABILITY. */
async function checkDurability(redis: ScriptedRedis, config: Config): Promise<void> {
  const d = await readDurability(redis)
  const shortfall = durabilityShortfall(d, config.REDIS_DURABILITY)
  if (shortfall !== null) throw new StartRefused(shortfall)
  redisAof.set(d.aof ? 1 : 0)
  redisFsyncAlways.set(d.aof && d.fsync === 'always' ? 1 : 0)
  const fields = { durability: describeDurability(d), required: config.REDIS_DURABILITY }
  if (d.aof && d.fsync !== 'no') log.info(fields, 'Redis durability')
  else
    log.warn(
      fields,
      'Redis keeps no AOF: a Redis restart loses sales and orders not yet in PostgreSQL ' +
        '(set appendonly yes; REDIS_DURABILITY=aof to require it)',
    )
}
