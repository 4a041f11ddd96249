import { randomBytes } from 'node:crypto'
import { Pool } from 'pg'

/**
 * Integration-test access to the real PostgreSQL. Each test gets its own schema (`t_<random>`),
 * dropped with everything in it at teardown; the server under test is pointed at it with
 * PG_SCHEMA.
 */
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

export interface Teardown {
  teardown(fn: () => unknown): void
}

export interface TestPg {
  readonly schema: string
  readonly pool: Pool
}

/** A fresh schema name and a pool whose search_path is it; dropped at teardown. */
export function freshSchema(t: Teardown, url = DATABASE_URL): TestPg {
  const schema = `t_${randomBytes(6).toString('hex')}`
  const pool = new Pool({ connectionString: url, max: 2, options: `-c search_path=${schema}` })
  pool.on('error', () => {})
  t.teardown(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {})
    await pool.end()
  })
  return { schema, pool }
}

export interface OrderRow {
  order_id: string
  sale_id: string
  user_id: string
  quantity: number
  status: string
  paid_at: Date | null
}

export async function ordersOf(pool: Pool, saleId: string): Promise<OrderRow[]> {
  const r = await pool.query<OrderRow>(
    `SELECT order_id, sale_id, user_id, quantity, status, paid_at
       FROM orders WHERE sale_id = $1 ORDER BY order_id`,
    [saleId],
  )
  return r.rows
}

/** Poll `check` every 50 ms until it returns true; throws after `ms` with `what`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  ms = 20000,
): Promise<void> {
  const until = Date.now() + ms
  for (;;) {
    if (await check().catch(() => false)) return
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}
