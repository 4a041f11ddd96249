import type { Pool } from 'pg'
import type { Schema } from '../../bench/harness/store-fixture'

/**
 * Integration-test access to the real PostgreSQL. Each test gets its own schema (`t_<random>`),
 * dropped with everything in it at teardown; the server under test is pointed at it with
 * PG_SCHEMA. The schema and the poller are the harness's (bench/harness/), shared with the
 * benchmarks.
 */
export { waitFor } from '../../bench/harness/poll'
export { DATABASE_URL, freshSchema } from '../../bench/harness/store-fixture'
export type { Teardown } from '../../bench/harness/teardown'

export type TestPg = Schema

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
