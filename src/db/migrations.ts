import type { Pool } from 'pg'
import { inTransaction } from './pg'
import { MIGRATIONS } from './schema'

/**
 * Versioned schema migrations, applied at start by the primary (and by `seckill migrate`). Each
 * runs once, in order, in one transaction with the version row; an advisory lock makes several
 * nodes starting at once apply each migration exactly once. Never edit a released migration:
 * add the next version.
 */

/** Any constant: the key of the advisory lock that serialises migrations. */
const LOCK_KEY = 0x5ec1
const IDENT = /^[a-z_][a-z0-9_]{0,62}$/

/** Apply every migration not yet applied in `schema`; returns the versions applied now. */
export async function migrate(pool: Pool, schema: string): Promise<number[]> {
  if (!IDENT.test(schema)) throw new Error(`PG_SCHEMA "${schema}" is not a plain lower-case name`)
  return inTransaction(pool, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY])
    await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`)
    await c.query(`SET LOCAL search_path TO ${schema}`)
    await c.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    integer PRIMARY KEY,
      name       text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`)
    const done = await c.query<{ version: number }>('SELECT version FROM schema_migrations')
    const have = new Set(done.rows.map((r) => r.version))
    const applied: number[] = []
    for (const m of MIGRATIONS) {
      if (have.has(m.version)) continue
      await c.query(m.sql)
      await c.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
        m.version,
        m.name,
      ])
      applied.push(m.version)
    }
    return applied
  })
}
