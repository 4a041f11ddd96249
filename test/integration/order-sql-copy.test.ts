import type { Pool } from 'pg'
import t from 'tap'
import { migrate } from '../../src/db/migrations'
import { inTransaction } from '../../src/db/pg'
import type { OrderRecord } from '../../src/orders/order-record'
import { copyUpsertOrders, upsertOrders } from '../../src/orders/order-sql'
import { freshSchema, type Teardown } from '../helpers/pg'

/**
 * The two ways into `orders` (src/orders/order-sql.ts) against the real PostgreSQL: the rows
 * COPYed through the staging table come out exactly as the rows the unnest statement writes,
 * whatever bytes COPY's text format gives a meaning to, and both absorb the same conflicts.
 */

const NOW = 1_700_000_000_000

function order(id: string, change: Partial<OrderRecord> = {}): OrderRecord {
  return {
    orderId: id,
    saleId: 's1',
    userId: 'u1',
    quantity: 1,
    status: 'reserved',
    idempotencyKey: '',
    createdAt: NOW,
    expiresAt: NOW + 300_000,
    paidAt: null,
    ...change,
  }
}

/** Values that mean something in COPY's text format, and some that do not. */
const TRICKY: OrderRecord[] = [
  order('tab\there', { userId: 'a\tb' }),
  order('new\nline', { userId: 'line\r\nend', idempotencyKey: 'k\n1' }),
  order('back\\slash', { userId: '\\N', idempotencyKey: '\\.' }),
  order('\\N'),
  order('\\.'),
  order('ünïcödé 秒杀 🎫', { userId: '用户', idempotencyKey: 'ключ' }),
  order('anonymous', { userId: '' }),
  order('paid', { status: 'paid', paidAt: NOW + 1234, quantity: 7, userId: 'u2' }),
  order('late', { createdAt: 1e15, expiresAt: 1e15, userId: 'u3' }),
  order('early', { createdAt: 0, expiresAt: 1, userId: 'u4' }),
]

async function schemaWithOrders(t: Teardown): Promise<Pool> {
  const { pool, schema } = freshSchema(t)
  await migrate(pool, schema)
  return pool
}

async function rows(pool: Pool): Promise<unknown[]> {
  const r = await pool.query(
    `SELECT order_id, sale_id, user_id, quantity, status, idempotency_key,
            created_at, expires_at, paid_at
       FROM orders ORDER BY order_id`,
  )
  return r.rows
}

t.test('COPY through the staging table writes the rows the unnest statement writes', async (t) => {
  const [viaArrays, viaCopy] = await Promise.all([schemaWithOrders(t), schemaWithOrders(t)])
  t.equal(await upsertOrders(viaArrays, TRICKY), TRICKY.length)
  t.equal(await inTransaction(viaCopy, (c) => copyUpsertOrders(c, TRICKY)), TRICKY.length)
  const copied = await rows(viaCopy)
  t.same(copied, await rows(viaArrays), 'byte for byte, column for column')
  t.equal(copied.length, TRICKY.length)
  t.match(
    copied.find((r) => (r as { order_id: string }).order_id === '\\N'),
    { user_id: 'u1', idempotency_key: null },
    'a value that reads \\N is text, and an empty key is NULL, as with unnest',
  )
})

t.test('both ways absorb a re-sent batch and move reserved orders alike', async (t) => {
  const [viaArrays, viaCopy] = await Promise.all([schemaWithOrders(t), schemaWithOrders(t)])
  const copy = (o: OrderRecord[]) => inTransaction(viaCopy, (c) => copyUpsertOrders(c, o))
  const unnest = (o: OrderRecord[]) => upsertOrders(viaArrays, o)
  for (const write of [copy, unnest]) {
    t.equal(await write(TRICKY), TRICKY.length)
    t.equal(await write(TRICKY), 0, 'the same batch again changes nothing')
    const changes = [
      order('tab\there', { userId: 'a\tb', status: 'cancelled' }),
      order('paid'),
      order('anonymous', { userId: '', status: 'paid', paidAt: NOW + 5 }),
    ]
    t.equal(await write(changes), 2, 'two reserved orders move; the paid one is not undone')
  }
  t.same(await rows(viaCopy), await rows(viaArrays))
})

t.test('an empty batch is no statement at all', async (t) => {
  const pool = await schemaWithOrders(t)
  t.equal(await inTransaction(pool, (c) => copyUpsertOrders(c, [])), 0)
})
