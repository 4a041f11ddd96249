import { randomBytes } from 'node:crypto'
import { Cluster, Redis, type RedisOptions } from 'ioredis'
import { Pool } from 'pg'
import { clusterSeeds, type RedisTarget } from '../../src/store/redis'
import { mastersOf, type RedisClient } from '../../src/store/redis-client'
import { type Teardown, Teardowns } from './teardown'

/**
 * Throwaway stores for a test or a benchmark run: a Redis key prefix and a PostgreSQL schema of
 * its own, removed at teardown. Redis and PostgreSQL are shared with other processes, so nothing
 * here ever flushes a database: it deletes exactly the keys under its prefix (SCAN, never KEYS)
 * and drops exactly its schema.
 */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
/**
 * REDIS_CLUSTER=on: the environment's REDIS_URL names a Redis Cluster (its seeds), and every
 * client and node the harness makes on it is a cluster's (test/integration/redis-cluster.test.ts
 * runs the Lua contracts and the cluster sale so). Any other URL, a test's own redis-server, is
 * one server.
 */
export const REDIS_CLUSTER = process.env.REDIS_CLUSTER === 'on'

/** What a node or a client is told about the Redis at `url`. */
export function redisTarget(url = REDIS_URL): RedisTarget {
  return { REDIS_URL: url, REDIS_CLUSTER: REDIS_CLUSTER && url === REDIS_URL ? 'on' : 'off' }
}

/** A plain client (no scripts, no timeouts of the product's) on the Redis or cluster at `url`. */
export function harnessRedis(url = REDIS_URL, options: RedisOptions = {}): RedisClient {
  if (redisTarget(url).REDIS_CLUSTER === 'off') return new Redis(url, options)
  return new Cluster(clusterSeeds(url), { redisOptions: options })
}
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

const random = () => randomBytes(6).toString('hex')

/** A key prefix `<tag>:<random>:` that no other test or run uses. */
export const newPrefix = (tag = 't') => `${tag}:${random()}:`

/** A fresh key prefix `<tag>:<random>:`; every key under it is deleted at teardown. */
export function freshPrefix(t: Teardown, redis: RedisClient, tag = 't'): string {
  const prefix = newPrefix(tag)
  t.teardown(() => deleteUnder(redis, prefix))
  return prefix
}

/** Every key under `prefix`, sorted; on a cluster, SCAN runs on every master (each its shard). */
export async function keysUnder(redis: RedisClient, prefix: string): Promise<string[]> {
  const found = new Set<string>()
  if (redis instanceof Cluster) await clusterReady(redis)
  const masters = mastersOf(redis)
  // No master known would scan nothing and report a clean prefix: never silently.
  if (masters.length === 0) throw new Error('the Redis Cluster client knows no master to scan')
  for (const node of masters) {
    let cursor = '0'
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      for (const key of batch) found.add(key)
      cursor = next
    } while (cursor !== '0')
  }
  return [...found].sort()
}

/** Resolves once the cluster client has its slot map (its masters are known). */
export async function clusterReady(c: Cluster): Promise<void> {
  if (c.status === 'ready') return
  if (c.status === 'wait') return c.connect()
  await new Promise<void>((resolve, reject) => {
    c.once('ready', resolve)
    c.once('end', () => reject(new Error('the Redis Cluster connection ended')))
  })
}

export async function deleteUnder(redis: RedisClient, prefix: string): Promise<void> {
  const keys = await keysUnder(redis, prefix)
  // In slices: one DEL of a million arguments would block the shared Redis for its length. On a
  // cluster one DEL per key: a DEL of keys in several slots is refused (CROSSSLOT).
  for (let i = 0; i < keys.length; i += 1000) {
    const slice = keys.slice(i, i + 1000)
    if (redis instanceof Cluster) await Promise.all(slice.map((k) => redis.del(k)))
    else await redis.del(...slice)
  }
}

export interface Schema {
  readonly schema: string
  /** a small pool whose search_path is the schema */
  readonly pool: Pool
}

/** A fresh schema name `<tag>_<random>` and a pool on it; dropped with its tables at teardown. */
export function freshSchema(t: Teardown, url = DATABASE_URL, tag = 't'): Schema {
  const schema = `${tag}_${random()}`
  const pool = new Pool({ connectionString: url, max: 2, options: `-c search_path=${schema}` })
  // A PostgreSQL a test stops on purpose cuts idle clients: not a failure of the test.
  pool.on('error', () => {})
  t.teardown(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {})
    await pool.end()
  })
  return { schema, pool }
}

export interface StoreFixture {
  readonly redisUrl: string
  readonly databaseUrl: string
  readonly prefix: string
  readonly schema: string
  /** a client on the Redis, for checking state */
  readonly redis: RedisClient
  /** a pool on the schema */
  readonly pg: Pool
  /** a server's environment for these stores */
  env(): Record<string, string>
}

export interface FixtureOptions {
  readonly redisUrl?: string
  readonly databaseUrl?: string
  /** what the prefix and the schema start with: `t` for tests, `bench` for benchmarks */
  readonly tag?: string
}

/** A prefix and a schema, and a client on each, all gone at teardown. */
export function storeFixture(t: Teardown, o: FixtureOptions = {}): StoreFixture {
  const { redisUrl = REDIS_URL, databaseUrl = DATABASE_URL, tag = 't' } = o
  const redis = harnessRedis(redisUrl, { maxRetriesPerRequest: 1 })
  t.teardown(() => redis.disconnect())
  const prefix = freshPrefix(t, redis, tag)
  const { schema, pool } = freshSchema(t, databaseUrl, tag)
  return {
    redisUrl,
    databaseUrl,
    prefix,
    schema,
    redis,
    pg: pool,
    env: () => ({
      ...redisTarget(redisUrl),
      REDIS_PREFIX: prefix,
      DATABASE_URL: databaseUrl,
      PG_SCHEMA: schema,
    }),
  }
}

/** The fixture for a script outside tap, removed by its cleanup(). */
export interface Stores extends StoreFixture {
  cleanup(): Promise<void>
}

export function stores(redisUrl: string, databaseUrl: string): Stores {
  const td = new Teardowns()
  return { ...storeFixture(td, { redisUrl, databaseUrl, tag: 'bench' }), cleanup: () => td.run() }
}
