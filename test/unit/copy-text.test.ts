import t from 'tap'
import type { OrderRecord } from '../../src/orders/order-record'
import { copyField, stagingText } from '../../src/orders/order-sql'

/**
 * The text the order writer COPYs into its staging table (src/orders/order-sql.ts): one line
 * per order, nine tab-separated fields, and no value able to pass for a tab, a line end or
 * NULL. Pure; the round trip through the real PostgreSQL is test/integration/order-sql-copy.
 */

const ORDER: OrderRecord = {
  orderId: 's1.A',
  saleId: 's1',
  userId: 'u1',
  quantity: 2,
  status: 'reserved',
  idempotencyKey: '',
  createdAt: 1_700_000_000_000,
  expiresAt: 1_700_000_300_000,
  paidAt: null,
}

t.test('the four bytes COPY gives a meaning to are escaped, and nothing else', async (t) => {
  t.equal(copyField('plain-id_1.2:3'), 'plain-id_1.2:3')
  t.equal(copyField('a\tb\nc\rd\\e'), 'a\\tb\\nc\\rd\\\\e')
  t.equal(copyField('\\N'), '\\\\N', 'a value that reads \\N stays text, never NULL')
  t.equal(copyField('\\.'), '\\\\.', 'nor the end-of-data marker')
  t.equal(copyField('秒杀 🎫'), '秒杀 🎫', 'any other text passes as it is')
  t.equal(copyField(''), '')
})

t.test('one line per order, in the staging columns order; an unpaid order has NULL', async (t) => {
  const paid: OrderRecord = { ...ORDER, orderId: 's1.B', status: 'paid', paidAt: 1_700_000_001_000 }
  t.equal(
    stagingText([ORDER, paid]),
    's1.A\ts1\tu1\t2\treserved\t\t1700000000000\t1700000300000\t\\N\n' +
      's1.B\ts1\tu1\t2\tpaid\t\t1700000000000\t1700000300000\t1700000001000\n',
  )
  t.equal(stagingText([]), '')
})
