import { randomBytes } from 'node:crypto'
import Redis from 'ioredis'
import { Pool } from 'pg'
import { type Teardown, Teardowns } from './teardown'

/**
 * Throwaway stores for a test or a benchmark run: a Redis key prefix and a PostgreSQL schema of
 * its own, removed at teardown. Redis and PostgreSQL are shared with other processes, so nothing
 * here ever flushes a database: it deletes exactly the keys under its prefix (SCAN, never KEYS)
 * and drops exactly its schema.
 */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

const random = () => randomBytes(6).toString('hex')

/** A key prefix `<tag>:<random>:` that no other test or run uses. */
export const newPrefix = (tag = 't') => `${tag}:${random()}:`

/** A fresh key prefix `<tag>:<random>:`; every key under it is deleted at teardown. */
export function freshPrefix(t: Teardown, redis: Redis, tag = 't'): string {
  const prefix = newPrefix(tag)
  t.teardown(() => deleteUnder(redis, prefix))
  return prefix
}

/** Every key under `prefix`, sorted. */
export async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const found = new Set<string>()
  let cursor = '0'
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    for (const key of batch) found.add(key)
    cursor = next
  } while (cursor !== '0')
  return [...found].sort()
}

export async function deleteUnder(redis: Redis, prefix: string): Promise<void> {
  const keys = await keysUnder(redis, prefix)
  // In slices: one DEL of a million arguments would block the shared Redis for its length.
  for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000))
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
  readonly redis: Redis
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
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
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
      REDIS_URL: redisUrl,
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
