import { userInfo } from 'node:os'
import { Pool, type PoolClient } from 'pg'
import type { Config } from '../config'

/**
 * PostgreSQL connections: the order store of record. With DATABASE_URL empty, node-postgres reads
 * the standard PG* variables (PGHOST, PGDATABASE, PGUSER, ...) and their defaults.
 */
export interface PgOptions {
  readonly url: string
  /** the schema every table lives in (search_path); tests use one per test */
  readonly schema: string
  readonly max: number
  readonly name: string
}

/** The pool options of `config` for a pool named `name` (application_name) of `max` connections. */
export function pgOptionsOf(
  config: Pick<Config, 'DATABASE_URL' | 'PG_SCHEMA'>,
  name: string,
  max: number,
): PgOptions {
  return { url: config.DATABASE_URL, schema: config.PG_SCHEMA, max, name }
}

/**
 * node-postgres takes a missing user name from $USER alone, which service managers often leave
 * unset: fall back to PGUSER, then the account the process runs as, as psql does.
 */
function defaultUser(): string {
  return process.env.PGUSER || process.env.USER || userInfo().username
}

function connection(url: string): { connectionString: string } | { user: string } {
  if (!url) return { user: defaultUser() }
  if (/^[a-z]+:\/\/[^/]*@/.test(url)) return { connectionString: url }
  return { connectionString: url.replace('://', `://${encodeURIComponent(defaultUser())}@`) }
}

export function createPool(o: PgOptions): Pool {
  const pool = new Pool({
    ...connection(o.url),
    max: o.max,
    application_name: o.name,
    options: `-c search_path=${o.schema}`,
    // A dead server must fail a query within seconds, not hang the writer or an API call.
    connectionTimeoutMillis: 3000,
    // Idle connections are closed so a restarted server is met with fresh ones.
    idleTimeoutMillis: 10_000,
  })
  // A connection that breaks while idle emits here; the next query reconnects.
  pool.on('error', () => {})
  return pool
}

/** Check the server answers; throws with what to do. */
export async function checkPg(pool: Pool, url: string): Promise<void> {
  try {
    await pool.query('SELECT 1')
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${url ? redactPgUrl(url) : 'the PG* defaults'} ` +
        `(${(err as Error).message}). Start it or set DATABASE_URL.`,
    )
  }
}

export function redactPgUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@')
}

/**
 * Errors about the data itself (SQLSTATE class 22, data exception, and 23, integrity constraint):
 * retrying the same rows cannot help. Every other error (connection lost, server shutting down,
 * a missing table, too many clients) is the server's state and is retried, never blamed on rows.
 */
export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' && /^2[23][0-9A-Z]{3}$/.test(code)
}

/** Run `fn` in a transaction on one connection; rolls back on any error. */
export async function inTransaction<T>(pool: Pool, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  let broken = false
  try {
    await client.query('BEGIN')
    const out = await fn(client)
    await client.query('COMMIT')
    return out
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    // A connection that failed for any reason but the rows is not given back to the pool.
    broken = !isDataError(err)
    throw err
  } finally {
    client.release(broken)
  }
}
