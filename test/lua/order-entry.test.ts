import t, { type Test } from 'tap'
import {
  ENTRY_FIELDS,
  encodeStoredOrder,
  orderEntry,
  orderFromEntry,
  orderFromHash,
} from '../../src/orders/order-record'
import { EXPIRE_ORDERS } from '../../src/store/lua/expire-orders'
import { RESERVE } from '../../src/store/lua/reserve'
import { callScript } from '../../src/store/lua/script-call'
import { SETTLE_ORDER } from '../../src/store/lua/settle-order'
import { freshSale, openRedis, redisNowMs, seedSale } from '../helpers/redis'

/**
 * The order stream entry has one codec (src/orders/order-record.ts): what reserve-6.lua,
 * settleOrder-5.lua and expireOrders-5.lua XADD must be, field for field and in order, what
 * `orderEntry` encodes and `orderFromEntry` decodes, and the entry must say what the orders hash
 * says (whose value is what `encodeStoredOrder` makes of it, byte for byte).
 */
const redis = openRedis(t)

type Entry = [string, string[]]

t.test('reserve-6.lua and settleOrder-5.lua append entries in the codec shape', async (t) => {
  const k = freshSale(t, redis)
  await seedSale(redis, k.sale, {})
  const keys = RESERVE.keys(k)
  const [reserved] = await redis.reserve(...keys, 1, 's1.o1', 'u1', 2, 'key-1', k.bell)
  t.equal(reserved?.[0], 0, 'a new order')
  const paid = (await callScript(redis, SETTLE_ORDER.command, SETTLE_ORDER.keys(k), [
    'pay',
    's1.o1',
    k.bell,
  ])) as [number, string]
  t.equal(paid[0], 0, 'paid')
  await redis.reserve(...keys, 1, 's1.o2', '', 1, '', k.bell)

  const entries = (await redis.xrange(k.stream, '-', '+')) as Entry[]
  t.equal(entries.length, 3, 'reserve, pay, reserve')
  holdsToTheCodec(t, entries, await redis.hgetall(k.orders))
})

t.test('expireOrders-5.lua appends entries in the codec shape', async (t) => {
  const k = freshSale(t, redis)
  await seedSale(redis, k.sale, { ttl: '1' })
  await redis.reserve(...RESERVE.keys(k), 1, 's1.o1', 'u1', 1, 'key-1', k.bell)
  // The payment window of 1 s passes on Redis's clock.
  const due = Number(await redis.zscore(k.expiry, 's1.o1'))
  while ((await redisNowMs(redis)) < due) await new Promise((r) => setTimeout(r, 50))
  const swept = await callScript(redis, EXPIRE_ORDERS.command, EXPIRE_ORDERS.keys(k), [10, k.bell])
  t.same(swept, [1, 1, 0], 'the order expired')

  const entries = (await redis.xrange(k.stream, '-', '+')) as Entry[]
  t.equal(entries.length, 2, 'reserve, expire')
  holdsToTheCodec(t, entries, await redis.hgetall(k.orders))
})

/** Every entry has the codec's fields and decodes; each order's newest one says what the hash says. */
function holdsToTheCodec(t: Test, entries: Entry[], orders: Record<string, string>): void {
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
  for (const [orderId, value] of Object.entries(orders)) {
    const decoded = orderFromEntry('s1', last.get(orderId)!)
    t.same(
      decoded,
      orderFromHash(orderId, 's1', value),
      `${orderId}: the entry says what the hash says`,
    )
    if (typeof decoded !== 'string') {
      const { orderId: _, saleId: __, ...stored } = decoded
      t.equal(value, encodeStoredOrder(stored), `${orderId}: the hash holds the codec's record`)
    }
  }
}
