import { Pool } from 'pg'
import t from 'tap'
import { migrate } from '../../src/db/migrations'
import type { OrderRecord } from '../../src/orders/order-record'
import { PgSide } from '../../src/orders/writer/pg-side'
import { DATABASE_URL, freshSchema, ordersOf, type Teardown } from '../helpers/pg'

/**
 * The order writer's PostgreSQL side on its own, against the real PostgreSQL (a fresh schema per
 * test), with no Redis: idempotent batches (COPY into the connection's staging table, then one
 * INSERT … SELECT … ON CONFLICT), a poison row isolated by its index, and the line between data
 * errors (never retried) and transient ones (never blamed on a row).
 */

const NOW = 1_700_000_000_000

/** Both ways a transaction can go (COPY_FROM_ROWS picks one by size): every test runs on each. */
const WAYS = [
  { name: 'COPY through the staging table', copyFromRows: 1 },
  { name: 'the unnest statement', copyFromRows: Number.POSITIVE_INFINITY },
] as const

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

for (const way of WAYS) {
  t.test(
    `${way.name}: a batch written twice makes each row once; the second write changes nothing`,
    async (t) => {
      const { pool } = await migrated(t)
      const side = new PgSide(pool, null, way.copyFromRows)
      const batch = [order(1), order(2), order(3)]
      t.same(await side.write(batch), { error: null, written: 3, refused: [] })
      t.same(
        await side.write(batch),
        { error: null, written: 0, refused: [] },
        'a no-op the 2nd time',
      )
      t.same(
        (await ordersOf(pool, 's1')).map((r) => r.order_id),
        ['s1.1', 's1.2', 's1.3'],
        'each order is one row',
      )
    },
  )

  t.test(
    `${way.name}: an order created and paid in one batch is written once, as paid`,
    async (t) => {
      const { pool } = await migrated(t)
      const paid = order(1, { status: 'paid', paidAt: NOW + 1000 })
      t.same(await new PgSide(pool, null, way.copyFromRows).write([order(1), paid]), {
        error: null,
        written: 1,
        refused: [],
      })
      const rows = await ordersOf(pool, 's1')
      t.same(
        rows.map((r) => [r.order_id, r.status, r.paid_at?.getTime()]),
        [['s1.1', 'paid', NOW + 1000]],
      )
    },
  )

  t.test(
    `${way.name}: a row PostgreSQL refuses is reported as data, by its index, and the others are written`,
    async (t) => {
      const { pool } = await migrated(t)
      // quantity 0 breaks the table's CHECK (SQLSTATE 23514): no retry can ever write it.
      const w = await new PgSide(pool, null, way.copyFromRows).write([
        order(1),
        order(2, { quantity: 0 }),
        order(3),
      ])
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

  t.test(
    `${way.name}: a reserved order moves to paid; a re-sent creation never undoes the payment`,
    async (t) => {
      const { pool } = await migrated(t)
      const side = new PgSide(pool, null, way.copyFromRows)
      const paid = order(1, { status: 'paid', paidAt: NOW + 1000 })
      t.same(await side.write([order(1), order(2)]), { error: null, written: 2, refused: [] })
      t.same(await side.write([paid]), { error: null, written: 1, refused: [] }, 'reserved → paid')
      t.same(await side.write([order(1)]), { error: null, written: 0, refused: [] }, 'a no-op')
      t.same(
        await side.write([order(2, { status: 'expired' }), order(2, { status: 'reserved' })]),
        { error: null, written: 1, refused: [] },
        'a final state wins over a creation sent after it in the same batch',
      )
      const rows = await ordersOf(pool, 's1')
      t.same(
        rows.map((r) => [r.order_id, r.status, r.paid_at?.getTime() ?? null]),
        [
          ['s1.1', 'paid', NOW + 1000],
          ['s1.2', 'expired', null],
        ],
      )
      t.same(
        await side.write([order(1, { status: 'cancelled' })]),
        { error: null, written: 0, refused: [] },
        'and a final state is never changed again',
      )
      t.equal((await ordersOf(pool, 's1'))[0]?.status, 'paid')
    },
  )

  t.test(
    `${way.name}: an order with the idempotency key of another live order is refused, never dropped in silence`,
    async (t) => {
      const { pool } = await migrated(t)
      const side = new PgSide(pool, null, way.copyFromRows)
      const key = { userId: 'u1', idempotencyKey: 'k-1' }
      t.same(await side.write([order(1, key)]), { error: null, written: 1, refused: [] })
      // Another order id, the same sale, user and key: the live-key index refuses it (23505).
      const w = await side.write([order(2), order(3, key), order(4)])
      if (w.error !== null) {
        t.fail(`reported as transient: ${w.error}`)
        return
      }
      t.same(
        w.refused.map((r) => r.index),
        [1],
        'the conflicting row is refused, by its index',
      )
      t.match(w.refused[0]?.why, /orders_live_idempotency_key/, "with PostgreSQL's message")
      t.equal(w.written, 2, 'the rows around it are written')
      t.same(
        (await ordersOf(pool, 's1')).map((r) => r.order_id),
        ['s1.1', 's1.2', 's1.4'],
      )
      const within = await side.write([
        order(5, { userId: 'u5', idempotencyKey: 'k-5' }),
        order(6, { userId: 'u5', idempotencyKey: 'k-5' }),
      ])
      t.match(
        within,
        { error: null, written: 1, refused: [{ index: 1 }] },
        'two orders with one key in the same batch: the second is refused',
      )
    },
  )

  t.test(
    `${way.name}: a row with a NUL, which PostgreSQL text cannot hold, is isolated like any other`,
    async (t) => {
      const { pool } = await migrated(t)
      // Refused as data (22021) by the COPY itself, before the INSERT, or by the statement's
      // parameters: either way one row, not the batch.
      const w = await new PgSide(pool, null, way.copyFromRows).write([
        order(1),
        order(2, { userId: 'u\u0000' }),
        order(3),
      ])
      t.match(w, { error: null, written: 2, refused: [{ index: 1 }] })
      t.same(
        (await ordersOf(pool, 's1')).map((r) => r.order_id),
        ['s1.1', 's1.3'],
      )
    },
  )

  t.test(`${way.name}: a missing table is transient: nothing is blamed on the rows`, async (t) => {
    // A schema never migrated: "relation orders does not exist" is the server's state, not data.
    const { pool } = freshSchema(t)
    const w = await new PgSide(pool, null, way.copyFromRows).write([
      order(1),
      order(2, { quantity: 0 }),
    ])
    t.match(w, { error: /orders/ }, 'the whole write failed, with why')
    t.notOk('refused' in w, 'and no row was refused')
  })

  t.test(`${way.name}: PostgreSQL out of reach is transient`, async (t) => {
    // Port 1: nothing listens, so the connection is refused at once.
    const pool = new Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/test' })
    pool.on('error', () => {})
    t.teardown(() => pool.end())
    const w = await new PgSide(pool, null, way.copyFromRows).write([order(1)])
    t.match(w, { error: /ECONNREFUSED|connect/ })
    t.notOk('refused' in w, 'no row was refused')
  })
}

t.test('the staging table is emptied by each commit and outlives a failed batch', async (t) => {
  // One connection: every batch meets the staging table the batches before it left.
  const { schema } = await migrated(t)
  const one = new Pool({
    connectionString: DATABASE_URL,
    max: 1,
    options: `-c search_path=${schema}`,
  })
  t.teardown(() => one.end())
  const side = new PgSide(one, null, 1)
  // The first batch on the connection creates the table, in the transaction that then fails.
  t.match(await side.write([order(1), order(2, { quantity: 0 })]), { refused: [{ index: 1 }] })
  t.same(await side.write([order(3), order(4)]), { error: null, written: 2, refused: [] })
  t.same(await side.write([order(5)]), { error: null, written: 1, refused: [] })
  const left = await one.query('SELECT count(*)::int AS n FROM pg_temp.orders_staging')
  t.equal(left.rows[0].n, 0, 'nothing is left staged between batches')
  t.same(
    (await ordersOf(one, 's1')).map((r) => r.order_id),
    ['s1.1', 's1.3', 's1.4', 's1.5'],
  )
})
