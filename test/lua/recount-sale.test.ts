import t from 'tap'
import { orderEntry, type StoredOrder } from '../../src/orders/order-record'
import { RECOUNT_SALE } from '../../src/store/lua/recount-sale'
import { ORDER_FORMS, type OrderForm, storedValue, withForm } from '../helpers/orders'
import {
  freshSale,
  openRedis,
  redisNowMs,
  type SaleHash,
  type SaleSnapshot,
  seedSale,
  snapshot,
} from '../helpers/redis'

/**
 * Contract of native-lua/recountSale-3.lua. KEYS: sale, users, orders; no ARGV. Reply: {sold
 * before, sold after, users whose held units changed}, or {-5} without a sale. Every row runs on a
 * fresh prefix; the state before is written directly, in the shape reserve-6.lua and
 * settleOrder-5.lua leave it (orders hash, expiry zset, stream), then counters are drifted by hand.
 * Each row runs twice: orders in the record the scripts write, and in the previous version's JSON.
 */

const redis = openRedis(t)

const HOUR = 3_600_000
const TTL_MS = 300_000

type Status = 'reserved' | 'paid' | 'cancelled' | 'expired'

/** An order before the call: [userId, quantity, status]. */
type Seed = readonly [userId: string, quantity: number, status: Status]

interface Before {
  /** Sale hash fields over DEFAULT_SALE, and `returned`; null: no sale. */
  readonly sale: (Partial<SaleHash> & { returned?: string }) | null
  readonly users?: Record<string, string>
  readonly orders?: Record<string, Seed>
}

interface After {
  readonly sold: number
  /** The returned counter; absent: as before. */
  readonly returned?: number
  readonly users: Record<string, string>
}

interface Row {
  /** The test name: a sentence about behaviour. */
  readonly should: string
  readonly before: Before
  /** The expected reply of each call, in order. */
  readonly replies: readonly (readonly number[])[]
  /** 'unchanged': every key under the prefix is exactly as before the first call. */
  readonly after: After | 'unchanged'
}

/**
 * Orders of every status: live units are u1 1 (o1), u2 2 (o2 paid), anonymous 1 (o5);
 * o3 (u1, expired) and o4 (u3, cancelled) hold nothing. Right counters: sold 4.
 */
const MIXED: Record<string, Seed> = {
  o1: ['u1', 1, 'reserved'],
  o2: ['u2', 2, 'paid'],
  o3: ['u1', 1, 'expired'],
  o4: ['u3', 1, 'cancelled'],
  o5: ['', 1, 'reserved'],
}
const RIGHT_USERS = { u1: '1', u2: '2' }

const rows: Row[] = [
  // --- counters already right
  {
    should: 'answers {sold, sold, 0} and changes nothing when the counters are right',
    before: { sale: { sold: '4', returned: '2' }, users: RIGHT_USERS, orders: MIXED },
    replies: [[4, 4, 0]],
    after: 'unchanged',
  },
  {
    should: 'answers {0, 0, 0} and changes nothing for a sale with no order',
    before: { sale: {} },
    replies: [[0, 0, 0]],
    after: 'unchanged',
  },
  {
    should: 'counts neither expired nor cancelled orders',
    before: {
      sale: { sold: '0', returned: '3' },
      orders: { o1: ['u1', 1, 'expired'], o2: ['u2', 2, 'cancelled'] },
    },
    replies: [[0, 0, 0]],
    after: 'unchanged',
  },
  {
    should: 'counts the users whose ids hold separators and multi-byte characters apart',
    before: {
      sale: { sold: '0' },
      orders: {
        o1: ['1', 1, 'reserved'],
        o2: ['12:', 2, 'paid'],
        o3: ['😀,x', 1, 'reserved'],
        o4: ['😀,x', 1, 'cancelled'],
      },
    },
    replies: [[0, 4, 3]],
    after: { sold: 4, users: { '1': '1', '12:': '2', '😀,x': '1' } },
  },
  {
    should: 'counts reserved and paid orders, anonymous ones in sold only',
    before: {
      sale: { sold: '5' },
      users: { u1: '2' },
      orders: {
        o1: ['u1', 1, 'reserved'],
        o2: ['u1', 1, 'paid'],
        o3: ['', 2, 'reserved'],
        o4: ['', 1, 'paid'],
      },
    },
    replies: [[5, 5, 0]],
    after: 'unchanged',
  },

  // --- sold drifted
  {
    should: 'lowers a sold that is too high and raises returned by the difference',
    before: { sale: { sold: '9', returned: '2' }, users: RIGHT_USERS, orders: MIXED },
    replies: [[9, 4, 0]],
    after: { sold: 4, returned: 7, users: RIGHT_USERS },
  },
  {
    should: 'creates returned when sold is too high on a sale that never returned units',
    before: { sale: { sold: '6' }, users: RIGHT_USERS, orders: MIXED },
    replies: [[6, 4, 0]],
    after: { sold: 4, returned: 2, users: RIGHT_USERS },
  },
  {
    should: 'raises a sold that is too low and leaves returned as it was',
    before: { sale: { sold: '1', returned: '2' }, users: RIGHT_USERS, orders: MIXED },
    replies: [[1, 4, 0]],
    after: { sold: 4, users: RIGHT_USERS },
  },
  {
    should: 'raises a sold that is too low without creating returned',
    before: { sale: { sold: '0' }, users: RIGHT_USERS, orders: MIXED },
    replies: [[0, 4, 0]],
    after: { sold: 4, users: RIGHT_USERS },
  },
  {
    should: 'puts back on sale every unit counted for a sale whose orders all ended',
    before: {
      sale: { sold: '3', returned: '1' },
      users: { u1: '2', u2: '1' },
      orders: { o1: ['u1', 2, 'expired'], o2: ['u2', 1, 'cancelled'] },
    },
    replies: [[3, 0, 2]],
    after: { sold: 0, returned: 4, users: {} },
  },

  // --- users drifted
  {
    should: 'removes a user who holds no live order, and counts one changed user',
    before: {
      sale: { sold: '4' },
      users: { ...RIGHT_USERS, u3: '1' },
      orders: MIXED,
    },
    replies: [[4, 4, 1]],
    after: { sold: 4, users: RIGHT_USERS },
  },
  {
    should: 'removes a user field left at 0',
    before: { sale: { sold: '4' }, users: { ...RIGHT_USERS, u4: '0' }, orders: MIXED },
    replies: [[4, 4, 1]],
    after: { sold: 4, users: RIGHT_USERS },
  },
  {
    should: 'adds a user whose live orders are missing from the users hash',
    before: { sale: { sold: '4' }, users: { u1: '1' }, orders: MIXED },
    replies: [[4, 4, 1]],
    after: { sold: 4, users: RIGHT_USERS },
  },
  {
    should: 'rebuilds the users hash when it is missing altogether',
    before: { sale: { sold: '4' }, orders: MIXED },
    replies: [[4, 4, 2]],
    after: { sold: 4, users: RIGHT_USERS },
  },
  {
    should: 'sets a user whose count is wrong to the units of their live orders',
    before: { sale: { sold: '4' }, users: { u1: '2', u2: '2' }, orders: MIXED },
    replies: [[4, 4, 1]],
    after: { sold: 4, users: RIGHT_USERS },
  },
  {
    should: 'fixes sold and every drifted user at once, counting each changed user once',
    before: {
      sale: { sold: '9', returned: '0' },
      users: { u1: '2', u3: '1', '': '1' },
      orders: MIXED,
    },
    replies: [[9, 4, 4]],
    after: { sold: 4, returned: 5, users: RIGHT_USERS },
  },
  {
    should: 'answers {sold, sold, 0} on a second recount: the first left nothing to fix',
    before: { sale: { sold: '7', returned: '1' }, users: { u2: '1', u9: '3' }, orders: MIXED },
    replies: [
      [7, 4, 3],
      [4, 4, 0],
    ],
    after: { sold: 4, returned: 4, users: RIGHT_USERS },
  },

  // --- no sale
  {
    should: 'answers {-5} and changes nothing when the sale does not exist',
    before: { sale: null, users: { u1: '5' }, orders: MIXED },
    replies: [[-5]],
    after: 'unchanged',
  },
]

type Keys = ReturnType<typeof freshSale>

/**
 * HSET/ZADD/XADD the state before, directly, as the scripts would have left it; each order in the
 * form `formOf` gives it.
 */
async function seed(
  k: Keys,
  before: Before,
  formOf: (orderId: string) => OrderForm,
): Promise<void> {
  if (before.sale) {
    const { returned, ...sale } = before.sale
    await seedSale(redis, k.sale, sale)
    if (returned !== undefined) await redis.hset(k.sale, 'returned', returned)
  }
  if (before.users && Object.keys(before.users).length > 0) await redis.hset(k.users, before.users)
  const now = await redisNowMs(redis)
  for (const [orderId, [userId, quantity, status]] of Object.entries(before.orders ?? {})) {
    const expiresAt = status === 'expired' ? now - HOUR : now + HOUR
    const createdAt = expiresAt - TTL_MS
    const o: StoredOrder = {
      userId,
      quantity,
      createdAt,
      expiresAt,
      idempotencyKey: '',
      status,
      paidAt: status === 'paid' ? createdAt + 1000 : null,
    }
    await redis.hset(k.orders, orderId, storedValue(o, formOf(orderId)))
    if (status === 'reserved') await redis.zadd(k.expiry, expiresAt, orderId)
    await redis.xadd(
      k.stream,
      '*',
      ...streamFields(orderId, { ...o, status: 'reserved', paidAt: null }),
    )
    if (status !== 'reserved') await redis.xadd(k.stream, '*', ...streamFields(orderId, o))
  }
}

function streamFields(orderId: string, o: StoredOrder): string[] {
  return orderEntry({ orderId, ...o, paidAt: o.paidAt ?? '' })
}

for (const form of ORDER_FORMS)
  for (const row of rows) {
    t.test(withForm(row.should, form), async (t) => {
      const k = freshSale(t, redis)
      await seed(k, row.before, () => form)
      const first = await snapshot(redis, k)

      for (const [c, reply] of row.replies.entries()) {
        t.same(await redis.recountSale(...RECOUNT_SALE.keys(k)), reply, `call ${c + 1}: reply`)
      }

      const last = await snapshot(redis, k)
      if (row.after === 'unchanged') {
        t.same(last, first, 'every key under the prefix is as before')
        return
      }
      const a = row.after
      const sale: Record<string, string> = { ...first.sale, sold: String(a.sold) }
      if (a.returned !== undefined) sale.returned = String(a.returned)
      const hasUsers = Object.keys(a.users).length > 0
      const expected: SaleSnapshot = {
        ...first,
        sale,
        users: a.users,
        keys: [
          ...first.keys.filter((key) => key !== k.users),
          ...(hasUsers ? [k.users] : []),
        ].sort(),
      }
      t.same(
        last,
        expected,
        'only sold, returned and the users hash changed: orders, zset and stream are as before',
      )
    })
  }

t.test(
  'counts a hash that holds both forms: records, and JSON the previous version wrote',
  async (t) => {
    const k = freshSale(t, redis)
    // o1, o3, o5 as records, o2 and o4 as JSON: a node upgraded during the sale.
    await seed(k, { sale: { sold: '9' }, orders: MIXED }, (id) =>
      Number(id.slice(1)) % 2 === 1 ? 'record' : 'json',
    )
    t.same(await redis.recountSale(...RECOUNT_SALE.keys(k)), [9, 4, 2], 'sold 4, u1 and u2 added')
    t.same(await redis.hgetall(k.users), RIGHT_USERS, 'u1 1 (o1 a record), u2 2 (o2 JSON, paid)')
  },
)

t.test(
  'stops with an error, having changed nothing, at a value that is not an order',
  async (t) => {
    const k = freshSale(t, redis)
    await seed(k, { sale: { sold: '9' }, users: { u7: '1' }, orders: MIXED }, () => 'record')
    await redis.hset(k.orders, 'o9', 'r1,1700000000000,300000,,9:u1')
    const before = await snapshot(redis, k)
    await t.rejects(
      redis.recountSale(...RECOUNT_SALE.keys(k)),
      /order o9: its value in the orders hash is neither an order record nor JSON/,
    )
    t.same(await snapshot(redis, k), before, 'every key under the prefix is as before')
  },
)
