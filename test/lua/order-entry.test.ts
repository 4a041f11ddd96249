import t from 'tap'
import {
  ENTRY_FIELDS,
  orderEntry,
  orderFromEntry,
  orderFromJson,
} from '../../src/orders/order-record'
import { freshSale, openRedis, seedSale } from '../helpers/redis'

/**
 * The order stream entry has one codec (src/orders/order-record.ts): what reserve-6.lua and
 * settleOrders-5.lua XADD must be, field for field and in order, what `orderEntry` encodes and
 * `orderFromEntry` decodes, and the entry must say what the orders hash says.
 */
const redis = openRedis(t)

t.test('reserve-6.lua and settleOrders-5.lua append entries in the codec shape', async (t) => {
  const k = freshSale(t, redis)
  await seedSale(redis, k.sale, {})
  const keys = [k.sale, k.users, k.idem, k.orders, k.stream, k.expiry]
  const [reserved] = await redis.reserve(...keys, 1, 's1.o1', 'u1', 2, 'key-1')
  t.equal(reserved?.[0], 0, 'a new order')
  const paid = await redis.settleOrders(
    k.sale,
    k.users,
    k.orders,
    k.expiry,
    k.stream,
    'pay',
    's1.o1',
  )
  t.equal(paid[0], 0, 'paid')
  await redis.reserve(...keys, 1, 's1.o2', '', 1, '')

  const entries = (await redis.xrange(k.stream, '-', '+')) as [string, string[]][]
  t.equal(entries.length, 3, 'reserve, pay, reserve')
  const orders = await redis.hgetall(k.orders)
  for (const [id, flat] of entries) {
    t.same(
      flat.filter((_, i) => i % 2 === 0),
      [...ENTRY_FIELDS],
      `entry ${id}: the codec's fields, in its order`,
    )
    const decoded = orderFromEntry('s1', flat)
    if (typeof decoded === 'string') {
      t.fail(`entry ${id} does not decode: ${decoded}`)
      continue
    }
    t.same(
      orderEntry({ ...decoded, paidAt: decoded.paidAt ?? '' }),
      flat,
      `entry ${id} re-encodes as it stands`,
    )
  }
  // The newest entry of each order agrees with the orders hash.
  const last = new Map(entries.map(([, flat]) => [flat[1]!, flat]))
  for (const [orderId, json] of Object.entries(orders)) {
    const decoded = orderFromEntry('s1', last.get(orderId)!)
    t.same(
      decoded,
      orderFromJson(orderId, 's1', json),
      `${orderId}: the entry says what the hash says`,
    )
  }
})
