import t from 'tap'
import {
  decodeStoredOrder,
  encodeStoredOrder,
  orderEntry,
  type StoredOrder,
} from '../../src/orders/order-record'
import { EXPIRE_ORDERS } from '../../src/store/lua/expire-orders'
import { callScript } from '../../src/store/lua/script-call'
import { SETTLE_ORDER } from '../../src/store/lua/settle-order'
import { ORDER_FORMS, type OrderForm, storedValue, withForm } from '../helpers/orders'
import {
  freshSale,
  openRedis,
  recordBell,
  redisNowMs,
  type SaleHash,
  type SaleSnapshot,
  seedSale,
  snapshot,
} from '../helpers/redis'

/**
 * Contract of the two scripts that move an order out of reserved, together because rows mix
 * them (a pay racing the sweep): native-lua/settleOrder-5.lua (ARGV: "pay" | "cancel", orderId)
 * and native-lua/expireOrders-5.lua (ARGV: the most orders to expire), each with the sale's bell
 * channel last. KEYS of both: sale, users,
 * orders, expiry, stream. Every row runs on a fresh prefix; the state before is written directly,
 * in the shape reserve-6.lua leaves it, with deadlines an hour or more from Redis TIME. Each row
 * runs twice: the orders before as the record the scripts write, and as the JSON the previous
 * version wrote; an order either script changes is written back as a record.
 */

const redis = openRedis(t)

const HOUR = 3_600_000
const TTL_MS = 300_000

type Status = 'reserved' | 'paid' | 'cancelled' | 'expired'

/** An order before the first call. */
interface Seed {
  readonly userId: string
  readonly quantity: number
  readonly status: Status
  /** Hours from Redis TIME (at seeding) to expiresAt: negative, the deadline has passed. */
  readonly expiresIn: number
  /** Its id is in the expiry zset; default: only a reserved order, as the scripts leave it. */
  readonly inZset?: boolean
}

function order(status: Status, userId: string, quantity = 1, expiresIn = 1): Seed {
  return { userId, quantity, status, expiresIn }
}
/** A reserved order whose deadline is an hour ahead. */
const live = (userId: string, quantity = 1) => order('reserved', userId, quantity, 1)
/** A reserved order whose deadline passed an hour ago, not yet swept. */
const due = (userId: string, quantity = 1, hoursAgo = 1) =>
  order('reserved', userId, quantity, -hoursAgo)

interface Before {
  /** Sale hash fields over DEFAULT_SALE, and `returned` when the sale already returned units. */
  readonly sale: Partial<SaleHash> & { returned?: string }
  readonly users?: Record<string, string>
  readonly orders?: Record<string, Seed>
  /** Ids in the expiry zset, an hour overdue, with no order in the orders hash. */
  readonly strayIds?: readonly string[]
}

type Script = 'settleOrder' | 'expireOrders'

/** pay or cancel (or an invalid call): the code, and the status of the order when one comes. */
interface OrderCall {
  readonly script: Script
  readonly argv: readonly (string | number)[]
  readonly code: number
  readonly status?: Status
}
/** A valid expire call: {orders expired, units returned, orders still due}. */
interface SweepCall {
  readonly script: 'expireOrders'
  readonly argv: readonly [most: number | string]
  readonly sweep: readonly [expired: number, units: number, left: number]
}
type Call = OrderCall | SweepCall

interface After {
  readonly sold: number
  /** The returned counter; absent: as before. */
  readonly returned?: number
  readonly users: Record<string, string>
  /** Every order's status now (paidAt of an order paid here is the Redis time of its call). */
  readonly orders: Record<string, Status>
  /** The ids left in the expiry zset, each at its expiresAt. */
  readonly expiry: readonly string[]
  /** The entries appended to the stream: [orderId, status] (compared in any order). */
  readonly stream: readonly (readonly [orderId: string, status: Status])[]
}

interface Row {
  /** The test name: a sentence about behaviour. */
  readonly should: string
  readonly before: Before
  readonly calls: readonly Call[]
  /** 'unchanged': every key under the prefix is exactly as before the first call. */
  readonly after: After | 'unchanged'
}

function pay(orderId: string, code: number, status?: Status): OrderCall {
  return { script: 'settleOrder', argv: ['pay', orderId], code, status }
}
function cancel(orderId: string, code: number, status?: Status): OrderCall {
  return { script: 'settleOrder', argv: ['cancel', orderId], code, status }
}
function expire(limit: number | string, sweep: SweepCall['sweep']): SweepCall {
  return { script: 'expireOrders', argv: [limit], sweep }
}

/** u1 holds one live order o1 (1 unit), u2 one live order o2 (1 unit): 2 sold. */
const TWO_LIVE: Before = {
  sale: { sold: '2' },
  users: { u1: '1', u2: '1' },
  orders: { o1: live('u1'), o2: live('u2') },
}
/** As TWO_LIVE, but o1's deadline passed an hour ago and no sweep has run. */
const O1_DUE: Before = {
  sale: { sold: '2' },
  users: { u1: '1', u2: '1' },
  orders: { o1: due('u1'), o2: live('u2') },
}
/** u1 paid o1, u2 cancelled o2 (its unit back on sale), u3 holds live o3. */
const SETTLED: Before = {
  sale: { sold: '2', returned: '1' },
  users: { u1: '1', u3: '1' },
  orders: { o1: order('paid', 'u1'), o2: order('cancelled', 'u2'), o3: live('u3') },
}
/** o1 of u1 was expired by a sweep (its unit back on sale); u2 holds live o2. */
const O1_EXPIRED: Before = {
  sale: { sold: '1', returned: '1' },
  users: { u2: '1' },
  orders: { o1: order('expired', 'u1', 1, -1), o2: live('u2') },
}

const rows: Row[] = [
  // --- pay
  {
    should: 'pays a reserved order: paid at Redis TIME, off the expiry zset, one stream entry',
    before: TWO_LIVE,
    calls: [pay('o1', 0, 'paid')],
    after: {
      sold: 2,
      users: { u1: '1', u2: '1' },
      orders: { o1: 'paid', o2: 'reserved' },
      expiry: ['o2'],
      stream: [['o1', 'paid']],
    },
  },
  {
    should: 'answers a second pay of the same order with 1 and changes nothing more',
    before: TWO_LIVE,
    calls: [pay('o1', 0, 'paid'), pay('o1', 1, 'paid')],
    after: {
      sold: 2,
      users: { u1: '1', u2: '1' },
      orders: { o1: 'paid', o2: 'reserved' },
      expiry: ['o2'],
      stream: [['o1', 'paid']],
    },
  },
  {
    should: 'answers pay of an order paid earlier with 1 and the stored order, unchanged',
    before: SETTLED,
    calls: [pay('o1', 1, 'paid')],
    after: 'unchanged',
  },
  {
    should: 'refuses pay of a cancelled order with -8 and changes nothing',
    before: SETTLED,
    calls: [pay('o2', -8, 'cancelled')],
    after: 'unchanged',
  },
  {
    should: 'pays an order of 2 units without returning any',
    before: { sale: { sold: '2' }, users: { u1: '2' }, orders: { o1: live('u1', 2) } },
    calls: [pay('o1', 0, 'paid')],
    after: {
      sold: 2,
      users: { u1: '2' },
      orders: { o1: 'paid' },
      expiry: [],
      stream: [['o1', 'paid']],
    },
  },
  {
    should: 'pays an order whose id is the longest allowed (200 bytes)',
    before: { sale: { sold: '1' }, users: { u1: '1' }, orders: { ['o'.repeat(200)]: live('u1') } },
    calls: [pay('o'.repeat(200), 0, 'paid')],
    after: {
      sold: 1,
      users: { u1: '1' },
      orders: { ['o'.repeat(200)]: 'paid' },
      expiry: [],
      stream: [['o'.repeat(200), 'paid']],
    },
  },

  // --- cancel
  {
    should:
      'cancels a reserved order: its unit goes back (sold - 1, returned + 1), the user field goes at 0',
    before: TWO_LIVE,
    calls: [cancel('o1', 0, 'cancelled')],
    after: {
      sold: 1,
      returned: 1,
      users: { u2: '1' },
      orders: { o1: 'cancelled', o2: 'reserved' },
      expiry: ['o2'],
      stream: [['o1', 'cancelled']],
    },
  },
  {
    should: 'cancels one of two orders of a user: the user keeps the units of the other',
    before: {
      sale: { sold: '2' },
      users: { u1: '2' },
      orders: { o1: live('u1'), o2: live('u1') },
    },
    calls: [cancel('o1', 0, 'cancelled')],
    after: {
      sold: 1,
      returned: 1,
      users: { u1: '1' },
      orders: { o1: 'cancelled', o2: 'reserved' },
      expiry: ['o2'],
      stream: [['o1', 'cancelled']],
    },
  },
  {
    should: 'cancels an order of 2 units: both go back on sale',
    before: {
      sale: { sold: '3', returned: '4' },
      users: { u1: '2', u2: '1' },
      orders: { o1: live('u1', 2), o2: live('u2') },
    },
    calls: [cancel('o1', 0, 'cancelled')],
    after: {
      sold: 1,
      returned: 6,
      users: { u2: '1' },
      orders: { o1: 'cancelled', o2: 'reserved' },
      expiry: ['o2'],
      stream: [['o1', 'cancelled']],
    },
  },
  {
    should: 'answers a second cancel of the same order with 1 and returns its unit only once',
    before: TWO_LIVE,
    calls: [cancel('o1', 0, 'cancelled'), cancel('o1', 1, 'cancelled')],
    after: {
      sold: 1,
      returned: 1,
      users: { u2: '1' },
      orders: { o1: 'cancelled', o2: 'reserved' },
      expiry: ['o2'],
      stream: [['o1', 'cancelled']],
    },
  },
  {
    should: 'answers cancel of an order cancelled earlier with 1 and changes nothing',
    before: SETTLED,
    calls: [cancel('o2', 1, 'cancelled')],
    after: 'unchanged',
  },
  {
    should: 'refuses cancel of a paid order with -9 and changes nothing',
    before: SETTLED,
    calls: [cancel('o1', -9, 'paid')],
    after: 'unchanged',
  },
  {
    should: 'refuses cancel after pay with -9, and pay after cancel with -8',
    before: TWO_LIVE,
    calls: [
      pay('o1', 0, 'paid'),
      cancel('o1', -9, 'paid'),
      cancel('o2', 0, 'cancelled'),
      pay('o2', -8, 'cancelled'),
    ],
    after: {
      sold: 1,
      returned: 1,
      users: { u1: '1' },
      orders: { o1: 'paid', o2: 'cancelled' },
      expiry: [],
      stream: [
        ['o1', 'paid'],
        ['o2', 'cancelled'],
      ],
    },
  },
  {
    should: 'cancels an anonymous order (userId "") without touching the users hash',
    before: {
      sale: { sold: '3' },
      users: { u2: '1' },
      orders: { o1: live('', 2), o2: live('u2') },
    },
    calls: [cancel('o1', 0, 'cancelled')],
    after: {
      sold: 1,
      returned: 2,
      users: { u2: '1' },
      orders: { o1: 'cancelled', o2: 'reserved' },
      expiry: ['o2'],
      stream: [['o1', 'cancelled']],
    },
  },

  {
    should: 'never writes the users field "" for an anonymous order, even one left there by hand',
    before: {
      sale: { sold: '2' },
      users: { '': '5', u2: '1' },
      orders: { o1: live(''), o2: due('') },
    },
    calls: [cancel('o1', 0, 'cancelled'), pay('o2', -7, 'expired')],
    after: {
      sold: 0,
      returned: 2,
      users: { '': '5', u2: '1' },
      orders: { o1: 'cancelled', o2: 'expired' },
      expiry: [],
      stream: [
        ['o1', 'cancelled'],
        ['o2', 'expired'],
      ],
    },
  },

  // --- the deadline passed
  {
    should: 'answers pay of a reserved order past its deadline with -7 and expires it at once',
    before: O1_DUE,
    calls: [pay('o1', -7, 'expired')],
    after: {
      sold: 1,
      returned: 1,
      users: { u2: '1' },
      orders: { o1: 'expired', o2: 'reserved' },
      expiry: ['o2'],
      stream: [['o1', 'expired']],
    },
  },
  {
    should: 'answers cancel of a reserved order past its deadline with -7 and expires it at once',
    before: O1_DUE,
    calls: [cancel('o1', -7, 'expired')],
    after: {
      sold: 1,
      returned: 1,
      users: { u2: '1' },
      orders: { o1: 'expired', o2: 'reserved' },
      expiry: ['o2'],
      stream: [['o1', 'expired']],
    },
  },
  {
    should: 'returns the units of an order expired by a pay only once: pay, pay, cancel, sweep',
    before: O1_DUE,
    calls: [
      pay('o1', -7, 'expired'),
      pay('o1', -7, 'expired'),
      cancel('o1', -7, 'expired'),
      expire(10, [0, 0, 0]),
    ],
    after: {
      sold: 1,
      returned: 1,
      users: { u2: '1' },
      orders: { o1: 'expired', o2: 'reserved' },
      expiry: ['o2'],
      stream: [['o1', 'expired']],
    },
  },
  {
    should: 'expires an anonymous order past its deadline without touching the users hash',
    before: { sale: { sold: '2' }, users: { u2: '1' }, orders: { o1: due(''), o2: live('u2') } },
    calls: [pay('o1', -7, 'expired')],
    after: {
      sold: 1,
      returned: 1,
      users: { u2: '1' },
      orders: { o1: 'expired', o2: 'reserved' },
      expiry: ['o2'],
      stream: [['o1', 'expired']],
    },
  },
  {
    should: 'answers pay of an order already expired with -7 and changes nothing',
    before: O1_EXPIRED,
    calls: [pay('o1', -7, 'expired')],
    after: 'unchanged',
  },
  {
    should: 'answers cancel of an order already expired with -7 and changes nothing',
    before: O1_EXPIRED,
    calls: [cancel('o1', -7, 'expired')],
    after: 'unchanged',
  },
  {
    should: 'keeps a paid order paid after its deadline: pay answers 1, cancel -9',
    before: {
      sale: { sold: '1' },
      users: { u1: '1' },
      orders: { o1: order('paid', 'u1', 1, -1) },
    },
    calls: [pay('o1', 1, 'paid'), cancel('o1', -9, 'paid'), expire(10, [0, 0, 0])],
    after: 'unchanged',
  },
  {
    should: 'keeps a cancelled order cancelled after its deadline: cancel answers 1, pay -8',
    before: {
      sale: { sold: '0', returned: '1' },
      orders: { o1: order('cancelled', 'u1', 1, -1) },
    },
    calls: [cancel('o1', 1, 'cancelled'), pay('o1', -8, 'cancelled')],
    after: 'unchanged',
  },

  // --- no such order
  {
    should: 'answers pay of an unknown order with -10 alone and changes nothing',
    before: TWO_LIVE,
    calls: [pay('o3', -10)],
    after: 'unchanged',
  },
  {
    should: 'answers cancel of an unknown order with -10 alone and changes nothing',
    before: TWO_LIVE,
    calls: [cancel('o3', -10)],
    after: 'unchanged',
  },
  {
    should: 'accepts an orderId of 100 two-byte characters (200 bytes): -10, not -6',
    before: TWO_LIVE,
    calls: [cancel('é'.repeat(100), -10)],
    after: 'unchanged',
  },
  {
    should: 'answers -10 for an order of an empty sale',
    before: { sale: {} },
    calls: [pay('o1', -10), cancel('o1', -10)],
    after: 'unchanged',
  },

  // --- invalid calls: {-6} and nothing changed (a due order shows a wrongly accepted sweep)
  ...(
    [
      ['an unknown action', 'settleOrder', ['refund', 'o1']],
      ['an action in upper case', 'settleOrder', ['PAY', 'o1']],
      ['an empty action', 'settleOrder', ['', 'o1']],
      ["the sweep's action (expire) given to pay and cancel", 'settleOrder', ['expire', 'o1']],
      ['no ARGV at all', 'settleOrder', []],
      ['pay without an orderId', 'settleOrder', ['pay']],
      ['cancel without an orderId', 'settleOrder', ['cancel']],
      ['expire without a count', 'expireOrders', []],
      ['pay with an extra argument', 'settleOrder', ['pay', 'o1', 'x']],
      ['expire with an extra argument', 'expireOrders', [10, 'x']],
      ['an empty orderId', 'settleOrder', ['pay', '']],
      ['an orderId over 200 bytes', 'settleOrder', ['cancel', 'o'.repeat(201)]],
      [
        'an orderId of 101 two-byte characters (202 bytes)',
        'settleOrder',
        ['pay', 'é'.repeat(101)],
      ],
      ['an expire count of 0', 'expireOrders', [0]],
      ['an expire count of 1001', 'expireOrders', [1001]],
      ['a negative expire count', 'expireOrders', [-1]],
      ['a fractional expire count (1.5)', 'expireOrders', ['1.5']],
      ['an expire count that is not a number (x)', 'expireOrders', ['x']],
      ['an empty expire count', 'expireOrders', ['']],
      ['an expire count of nan', 'expireOrders', ['nan']],
      ['an expire count of inf', 'expireOrders', ['inf']],
    ] as const
  ).map(
    ([what, script, argv]): Row => ({
      should: `refuses ${what} with {-6} and changes nothing`,
      before: O1_DUE,
      calls: [{ script, argv, code: -6 }],
      after: 'unchanged',
    }),
  ),

  // --- the expiry sweep
  {
    should: 'expires only the reserved orders whose deadline has passed',
    before: {
      sale: { sold: '4' },
      users: { u1: '1', u2: '1', u3: '2' },
      orders: { o1: due('u1'), o2: live('u2'), o3: due('u3', 2, 2) },
    },
    calls: [expire(10, [2, 3, 0])],
    after: {
      sold: 1,
      returned: 3,
      users: { u2: '1' },
      orders: { o1: 'expired', o2: 'reserved', o3: 'expired' },
      expiry: ['o2'],
      stream: [
        ['o1', 'expired'],
        ['o3', 'expired'],
      ],
    },
  },
  {
    should: 'expires nothing and changes nothing when no deadline has passed',
    before: TWO_LIVE,
    calls: [expire(10, [0, 0, 0])],
    after: 'unchanged',
  },
  {
    should: 'expires nothing on an empty sale',
    before: { sale: {} },
    calls: [expire(1000, [0, 0, 0])],
    after: 'unchanged',
  },
  {
    should: 'drops from the zset, without expiring, paid and cancelled orders still listed there',
    before: {
      sale: { sold: '3', returned: '1' },
      users: { u1: '1', u2: '1', u4: '1' },
      orders: {
        o1: { ...order('paid', 'u1', 1, -1), inZset: true },
        o2: due('u2'),
        o3: { ...order('cancelled', 'u3', 1, -1), inZset: true },
        o4: { ...order('paid', 'u4', 1, 1), inZset: true },
        o5: { ...order('expired', 'u5', 1, -2), inZset: true },
      },
    },
    calls: [expire(10, [1, 1, 0])],
    after: {
      sold: 2,
      returned: 2,
      users: { u1: '1', u4: '1' },
      orders: { o1: 'paid', o2: 'expired', o3: 'cancelled', o4: 'paid', o5: 'expired' },
      expiry: ['o4'],
      stream: [['o2', 'expired']],
    },
  },
  {
    should: 'drops from the zset an overdue id that has no order',
    before: { ...TWO_LIVE, strayIds: ['ghost'] },
    calls: [expire(10, [0, 0, 0])],
    after: {
      sold: 2,
      users: { u1: '1', u2: '1' },
      orders: { o1: 'reserved', o2: 'reserved' },
      expiry: ['o1', 'o2'],
      stream: [],
    },
  },
  {
    should: 'expires at most the limit per call and reports how many are still due',
    before: {
      sale: { sold: '4' },
      users: { u1: '1', u2: '1', u3: '1', u4: '1' },
      orders: { o1: due('u1', 1, 3), o2: due('u2', 1, 2), o3: due('u3', 1, 1), o4: live('u4') },
    },
    calls: [expire(2, [2, 2, 1]), expire(2, [1, 1, 0]), expire(2, [0, 0, 0])],
    after: {
      sold: 1,
      returned: 3,
      users: { u4: '1' },
      orders: { o1: 'expired', o2: 'expired', o3: 'expired', o4: 'reserved' },
      expiry: ['o4'],
      stream: [
        ['o1', 'expired'],
        ['o2', 'expired'],
        ['o3', 'expired'],
      ],
    },
  },
  {
    should: 'expires one order per call with a limit of 1',
    before: {
      sale: { sold: '2' },
      users: { u1: '1', u2: '1' },
      orders: { o1: due('u1'), o2: due('u2') },
    },
    calls: [expire(1, [1, 1, 1]), expire('1', [1, 1, 0])],
    after: {
      sold: 0,
      returned: 2,
      users: {},
      orders: { o1: 'expired', o2: 'expired' },
      expiry: [],
      stream: [
        ['o1', 'expired'],
        ['o2', 'expired'],
      ],
    },
  },
  {
    should: 'returns the units of an expired order exactly once: a second sweep expires nothing',
    before: O1_DUE,
    calls: [expire(1000, [1, 1, 0]), expire(1000, [0, 0, 0])],
    after: {
      sold: 1,
      returned: 1,
      users: { u2: '1' },
      orders: { o1: 'expired', o2: 'reserved' },
      expiry: ['o2'],
      stream: [['o1', 'expired']],
    },
  },
  {
    should: 'returns both units of a swept order of quantity 2',
    before: {
      sale: { sold: '3', returned: '1' },
      users: { u1: '2', u2: '1' },
      orders: { o1: due('u1', 2), o2: live('u2') },
    },
    calls: [expire(10, [1, 2, 0])],
    after: {
      sold: 1,
      returned: 3,
      users: { u2: '1' },
      orders: { o1: 'expired', o2: 'reserved' },
      expiry: ['o2'],
      stream: [['o1', 'expired']],
    },
  },
  {
    should: 'sweeps an anonymous order without touching the users hash',
    before: {
      sale: { sold: '3' },
      users: { u2: '1' },
      orders: { o1: due('', 2), o2: live('u2') },
    },
    calls: [expire(10, [1, 2, 0])],
    after: {
      sold: 1,
      returned: 2,
      users: { u2: '1' },
      orders: { o1: 'expired', o2: 'reserved' },
      expiry: ['o2'],
      stream: [['o1', 'expired']],
    },
  },
  {
    should: 'answers pay and cancel of a swept order with -7, changing nothing more',
    before: O1_DUE,
    calls: [expire(10, [1, 1, 0]), pay('o1', -7, 'expired'), cancel('o1', -7, 'expired')],
    after: {
      sold: 1,
      returned: 1,
      users: { u2: '1' },
      orders: { o1: 'expired', o2: 'reserved' },
      expiry: ['o2'],
      stream: [['o1', 'expired']],
    },
  },
  {
    should: 'leaves a live order payable after a sweep',
    before: O1_DUE,
    calls: [expire(10, [1, 1, 0]), pay('o2', 0, 'paid')],
    after: {
      sold: 1,
      returned: 1,
      users: { u2: '1' },
      orders: { o1: 'expired', o2: 'paid' },
      expiry: [],
      stream: [
        ['o1', 'expired'],
        ['o2', 'paid'],
      ],
    },
  },
]

type Keys = ReturnType<typeof freshSale>

/** Seeded orders with their deadlines resolved against Redis TIME. */
type Seeded = Map<string, StoredOrder>

/** HSET/ZADD/XADD the state before, directly: it is the input of the contract. Orders in `form`. */
async function seed(k: Keys, before: Before, form: OrderForm): Promise<Seeded> {
  const { returned, ...sale } = before.sale
  await seedSale(redis, k.sale, sale)
  if (returned !== undefined) await redis.hset(k.sale, 'returned', returned)
  if (before.users && Object.keys(before.users).length > 0) await redis.hset(k.users, before.users)
  const now = await redisNowMs(redis)
  const seeded: Seeded = new Map()
  for (const [orderId, s] of Object.entries(before.orders ?? {})) {
    const expiresAt = now + s.expiresIn * HOUR
    const createdAt = expiresAt - TTL_MS
    const o: StoredOrder = {
      userId: s.userId,
      quantity: s.quantity,
      createdAt,
      expiresAt,
      idempotencyKey: `k-${orderId.slice(0, 8)}`,
      status: s.status,
      paidAt: s.status === 'paid' ? createdAt + 1000 : null,
    }
    seeded.set(orderId, o)
    await redis.hset(k.orders, orderId, storedValue(o, form))
    if (s.inZset ?? s.status === 'reserved') await redis.zadd(k.expiry, expiresAt, orderId)
    // the entry reserve-6.lua appended, then the one of its change of state, if any
    await redis.xadd(
      k.stream,
      '*',
      ...streamFields(orderId, { ...o, status: 'reserved', paidAt: null }),
    )
    if (s.status !== 'reserved') await redis.xadd(k.stream, '*', ...streamFields(orderId, o))
  }
  for (const id of before.strayIds ?? []) await redis.zadd(k.expiry, now - HOUR, id)
  return seeded
}

/** An order's stream entry, field for field, in the shape reserve-6.lua and the script append. */
function streamFields(orderId: string, o: StoredOrder): string[] {
  return orderEntry({ orderId, ...o, paidAt: o.paidAt ?? '' })
}

function parseOrders(orders: Record<string, string>): Record<string, StoredOrder> {
  return Object.fromEntries(
    Object.entries(orders).map(([id, value]) => [id, decodeStoredOrder(value)]),
  )
}

/** The raw reply: the point of a contract test. The sale's bell channel is the last ARGV. */
function run(k: Keys, call: Call): Promise<(string | number)[]> {
  const script = call.script === 'settleOrder' ? SETTLE_ORDER : EXPIRE_ORDERS
  return callScript(redis, script.command, script.keys(k), [...call.argv, k.bell]) as Promise<
    (string | number)[]
  >
}

/** The stream entries appended after `lastId` ('' : from the start). */
async function entriesAfter(k: Keys, lastId: string): Promise<[string, string[]][]> {
  return redis.xrange(k.stream, lastId ? `(${lastId}` : '-', '+')
}

for (const form of ORDER_FORMS)
  for (const row of rows) {
    t.test(withForm(row.should, form), async (t) => {
      const k = freshSale(t, redis)
      const bell = await recordBell(t, k.bell)
      const seeded = await seed(k, row.before, form)
      const first = await snapshot(redis, k)
      /** orderId -> paidAt, for the orders paid by a call of this row */
      const paidAt = new Map<string, number>()

      let prev: SaleSnapshot = first
      for (const [c, call] of row.calls.entries()) {
        const args = call.argv.map((a) => String(a).slice(0, 12)).join(' ')
        const label = `call ${c + 1} (${call.script} ${args})`
        const t0 = await redisNowMs(redis)
        const reply = await run(k, call)
        const t1 = await redisNowMs(redis)
        const now = await snapshot(redis, k)
        const added = await entriesAfter(k, prev.streamLastId)
        // Units went back on sale unless every entry is a payment: every node must hear that at once.
        const returned = added.some(([, f]) => f[f.indexOf('status') + 1] !== 'paid')
        t.same(
          await bell.take(),
          added.length > 0 ? [`${added.length}${returned ? ' returned' : ''}`] : [],
          `${label}: the bell rang once, with the number of entries (and "returned" when units came back), only when there were any`,
        )
        const before = parseOrders(prev.orders)
        const after = parseOrders(now.orders)

        if ('sweep' in call) {
          t.same(reply, call.sweep, `${label}: {expired, units returned, still due}`)
          t.equal(added.length, call.sweep[0], `${label}: one stream entry per expired order`)
          for (const [, fields] of added) {
            const id = fields[1]!
            t.equal(before[id]?.status, 'reserved', `${label}: ${id} was reserved`)
            t.same(after[id], { ...before[id], status: 'expired' }, `${label}: ${id} is expired`)
            t.equal(now.orders[id], encodeStoredOrder(after[id]!), `${label}: ${id} is a record`)
            t.same(fields, streamFields(id, after[id]!), `${label}: ${id}'s entry carries it`)
          }
        } else {
          const id = String(call.argv[1])
          t.equal(reply[0], call.code, `${label}: code ${call.code}`)
          if (call.status === undefined) {
            t.equal(reply.length, 1, `${label}: no order with the code`)
          } else {
            t.equal(reply.length, 2, `${label}: the code and the order`)
            const value = String(reply[1])
            t.equal(value, now.orders[id], `${label}: the order as it now is in the orders hash`)
            const o = decodeStoredOrder(value)
            t.equal(o.status, call.status, `${label}: the order is ${call.status}`)
            const changes =
              call.code === 0 || (call.code === -7 && before[id]?.status === 'reserved')
            if (changes) {
              const newPaidAt = call.status === 'paid' ? o.paidAt : before[id]?.paidAt
              if (call.status === 'paid') {
                t.ok(
                  typeof o.paidAt === 'number' && o.paidAt >= t0 && o.paidAt <= t1,
                  `${label}: paidAt is Redis TIME of the call`,
                )
                paidAt.set(id, o.paidAt as number)
              }
              t.same(
                o,
                { ...before[id], status: call.status, paidAt: newPaidAt },
                `${label}: only status (and paidAt) changed`,
              )
              t.equal(value, encodeStoredOrder(o), `${label}: written back as a record`)
              t.same(
                added.map(([, f]) => f),
                [streamFields(id, o)],
                `${label}: one stream entry with the new state`,
              )
            } else {
              t.equal(value, prev.orders[id], `${label}: the stored order, untouched`)
            }
          }
        }
        if ('sweep' in call) {
          const dropped = Object.keys(prev.expiry).filter((id) => !(id in now.expiry))
          t.ok(
            dropped.every((id) => Number(prev.expiry[id]) <= t1),
            `${label}: only ids whose deadline has passed leave the expiry zset`,
          )
          t.ok(
            Object.keys(now.expiry).every((id) => now.expiry[id] === prev.expiry[id]),
            `${label}: nothing is added to the expiry zset, no deadline moves`,
          )
          if (added.length === 0) {
            const rest = (s: SaleSnapshot) => ({ ...s, expiry: {}, keys: [] })
            t.same(rest(now), rest(prev), `${label}: nothing expired, so only the zset may shrink`)
          }
        } else if (added.length === 0) {
          t.same(now, prev, `${label}: no change of state, so nothing changed`)
        }
        prev = now
      }

      const last = await snapshot(redis, k)
      if (row.after === 'unchanged') {
        t.same(last, first, 'every key under the prefix is as before')
        return
      }
      const a = row.after
      const orders: Record<string, StoredOrder> = {}
      for (const [id, status] of Object.entries(a.orders)) {
        const o = seeded.get(id)
        if (!o) throw new Error(`row names an order it did not seed: ${id}`)
        const wasPaid = o.status === 'paid'
        orders[id] = {
          ...o,
          status,
          paidAt: status === 'paid' && !wasPaid ? (paidAt.get(id) ?? -1) : o.paidAt,
        }
      }
      const expiry = Object.fromEntries(
        a.expiry.map((id) => [id, String(seeded.get(id)?.expiresAt ?? -1)]),
      )
      const sale: Record<string, string> = { ...first.sale, sold: String(a.sold) }
      if (a.returned !== undefined) sale.returned = String(a.returned)
      const all = await entriesAfter(k, '')
      const added = (await entriesAfter(k, first.streamLastId)).map(([, f]) => [f[1]!, f[13]!])
      const present: [string, boolean][] = [
        [k.sale, true],
        [k.users, Object.keys(a.users).length > 0],
        [k.idem, false],
        [k.orders, Object.keys(orders).length > 0],
        [k.stream, all.length > 0],
        [k.expiry, a.expiry.length > 0],
      ]
      t.same(
        { ...last, orders: parseOrders(last.orders) },
        {
          sale,
          users: a.users,
          idem: {},
          orders,
          expiry,
          streamLength: first.streamLength + a.stream.length,
          streamLastId: all.at(-1)?.[0] ?? '',
          keys: present
            .filter(([, p]) => p)
            .map(([key]) => key)
            .sort(),
        },
        'the whole state: sale, users, orders, expiry zset, stream length, keys',
      )
      const byId = (x: readonly string[], y: readonly string[]) =>
        `${x[0]} ${x[1]}`.localeCompare(`${y[0]} ${y[1]}`)
      t.same(
        [...added].sort(byId),
        a.stream.map((e) => [...e]).sort(byId),
        'the stream entries appended: one per change of state',
      )
    })
  }

t.test('a paid order whose ids hold separators and multi-byte characters keeps them', async (t) => {
  const k = freshSale(t, redis)
  await seedSale(redis, k.sale, { sold: '3' })
  await redis.hset(k.users, { '12:': '2', '😀,': '1' })
  const now = await redisNowMs(redis)
  const o = (userId: string, idempotencyKey: string, quantity: number): StoredOrder => ({
    userId,
    quantity,
    status: 'reserved',
    idempotencyKey,
    createdAt: now - TTL_MS / 2,
    expiresAt: now + TTL_MS / 2,
    paidAt: null,
  })
  const o1 = o('12:', '3:k,', 2)
  const o2 = o('😀,', ':😀', 1)
  await redis.hset(k.orders, { o1: encodeStoredOrder(o1), o2: encodeStoredOrder(o2) })
  await redis.zadd(k.expiry, o1.expiresAt, 'o1', o2.expiresAt, 'o2')
  const paid = await run(k, pay('o1', 0))
  const cancelled = await run(k, cancel('o2', 0))
  const p1 = decodeStoredOrder(String(paid[1]))
  t.same(p1, { ...o1, status: 'paid', paidAt: p1.paidAt }, 'o1: paid, ids as they were')
  t.same(decodeStoredOrder(String(cancelled[1])), { ...o2, status: 'cancelled' }, 'o2: cancelled')
  t.same(
    (await entriesAfter(k, '')).map(([, f]) => f),
    [streamFields('o1', p1), streamFields('o2', { ...o2, status: 'cancelled' })],
    'each entry carries the ids byte for byte',
  )
  t.same(await redis.hgetall(k.users), { '12:': '2' }, "o2's unit left its user, o1's stayed")
})

for (const script of ['settleOrder', 'expireOrders'] as const) {
  t.test(
    `${script}-5.lua stops with an error, having changed nothing, at a value that is not an order`,
    async (t) => {
      const k = freshSale(t, redis)
      await seedSale(redis, k.sale, { sold: '1' })
      await redis.hset(k.users, 'u1', '1')
      const now = await redisNowMs(redis)
      await redis.hset(k.orders, 'o1', 'r1,1700000000000')
      await redis.zadd(k.expiry, now - HOUR, 'o1')
      const before = await snapshot(redis, k)
      await t.rejects(
        run(k, script === 'settleOrder' ? pay('o1', 0) : expire(10, [1, 1, 0])),
        /order o1: its value in the orders hash is neither an order record nor JSON/,
      )
      t.same(await snapshot(redis, k), before, 'every key under the prefix is as before')
    },
  )
}
