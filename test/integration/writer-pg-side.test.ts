import { Pool } from 'pg'
import t from 'tap'
import { migrate } from '../../src/db/migrations'
import type { OrderRecord } from '../../src/orders/order-record'
import { PgSide } from '../../src/orders/writer/pg-side'
import { freshSchema, ordersOf, type Teardown } from '../helpers/pg'

/**
 * The order writer's PostgreSQL side on its own, against the real PostgreSQL (a fresh schema per
 * test), with no Redis: idempotent batches, a poison row isolated by its index, and the line
 * between data errors (never retried) and transient ones (never blamed on a row).
 */

const NOW = 1_700_000_000_000

function order(n: number, change: Partial<OrderRecord> = {}): OrderRecord {
  return {
    orderId: `s1.${n}`,
    saleId: 's1',
    userId: `u${n}`,
    quantity: 1,
    status: 'reserved',
    idempotencyKey: '',
    createdAt: NOW,
    expiresAt: NOW + 300_000,
    paidAt: null,
    ...change,
  }
}

async function migrated(t: Teardown) {
  const pg = freshSchema(t)
  await migrate(pg.pool, pg.schema)
  return pg
}

t.test('a batch written twice makes each row once; the second write changes nothing', async (t) => {
  const { pool } = await migrated(t)
  const side = new PgSide(pool)
  const batch = [order(1), order(2), order(3)]
  t.same(await side.write(batch), { error: null, written: 3, refused: [] })
  t.same(await side.write(batch), { error: null, written: 0, refused: [] }, 'a no-op the 2nd time')
  t.same(
    (await ordersOf(pool, 's1')).map((r) => r.order_id),
    ['s1.1', 's1.2', 's1.3'],
    'each order is one row',
  )
})

t.test('an order created and paid in one batch is written once, as paid', async (t) => {
  const { pool } = await migrated(t)
  const paid = order(1, { status: 'paid', paidAt: NOW + 1000 })
  t.same(await new PgSide(pool).write([order(1), paid]), { error: null, written: 1, refused: [] })
  const rows = await ordersOf(pool, 's1')
  t.same(
    rows.map((r) => [r.order_id, r.status, r.paid_at?.getTime()]),
    [['s1.1', 'paid', NOW + 1000]],
  )
})

t.test(
  'a row PostgreSQL refuses is reported as data, by its index, and the others are written',
  async (t) => {
    const { pool } = await migrated(t)
    // quantity 0 breaks the table's CHECK (SQLSTATE 23514): no retry can ever write it.
    const w = await new PgSide(pool).write([order(1), order(2, { quantity: 0 }), order(3)])
    if (w.error !== null) {
      t.fail(`reported as transient: ${w.error}`)
      return
    }
    t.equal(w.written, 2, 'the two good rows are written')
    t.same(
      w.refused.map((r) => r.index),
      [1],
      'the refused row is named by its place in the batch',
    )
    t.match(w.refused[0]?.why, /check constraint/, "with PostgreSQL's own message")
    t.same(
      (await ordersOf(pool, 's1')).map((r) => r.order_id),
      ['s1.1', 's1.3'],
    )
  },
)

t.test('a missing table is transient: nothing is blamed on the rows', async (t) => {
  // A schema never migrated: "relation orders does not exist" is the server's state, not data.
  const { pool } = freshSchema(t)
  const w = await new PgSide(pool).write([order(1), order(2, { quantity: 0 })])
  t.match(w, { error: /orders/ }, 'the whole write failed, with why')
  t.notOk('refused' in w, 'and no row was refused')
})

t.test('PostgreSQL out of reach is transient', async (t) => {
  // Port 1: nothing listens, so the connection is refused at once.
  const pool = new Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/test' })
  pool.on('error', () => {})
  t.teardown(() => pool.end())
  const w = await new PgSide(pool).write([order(1)])
  t.match(w, { error: /ECONNREFUSED|connect/ })
  t.notOk('refused' in w, 'no row was refused')
})
