import t from 'tap'
import {
  decodeStoredOrder,
  encodeStoredOrder,
  orderEntry,
  type StoredOrder,
} from '../../src/orders/order-record'
import { RESERVE } from '../../src/store/lua/reserve'
import { ORDER_FORMS, type OrderForm, storedValue, withForm } from '../helpers/orders'
import {
  freshSale,
  openRedis,
  type ReserveRawReply,
  recordBell,
  redisNowMs,
  type SaleHash,
  type SaleSnapshot,
  seedSale,
  snapshot,
} from '../helpers/redis'

/**
 * Contract of native-lua/reserve-6.lua. KEYS: sale, users, idem, orders, stream, expiry. ARGV: n, then
 * orderId, userId, quantity, idempotency key per attempt, then the bell channel. Every row runs on a fresh prefix; the
 * default sale (helpers/redis.ts) is started and open: 10 units, 2 per user, 300 s to pay. A row
 * whose state before holds orders runs twice: those orders as the record the scripts write, and
 * as the JSON the previous version wrote (a replay after an upgrade finds its order either way).
 */

const redis = openRedis(t)

const HOUR = 3_600_000
// Redis runs on this host, so its TIME and Date.now() agree far within the hour of margin.
const PAST = String(Date.now() - HOUR)
const FUTURE = String(Date.now() + HOUR)

type Attempt = readonly [
  orderId: string,
  userId: string,
  quantity: string | number,
  idemKey: string,
]
/** [code, remaining] for a refusal; [code, remaining, orderId, quantity] for 0 and 1. */
type Expect = readonly [code: number, remaining: number, orderId?: string, quantity?: number]

/** An order as reserve-6.lua makes it: reserved, not paid. */
type NewOrder = StoredOrder & { readonly status: 'reserved'; readonly paidAt: null }

interface Before {
  /** The sale hash fields over DEFAULT_SALE; null: no sale. */
  readonly sale: Partial<SaleHash> | null
  readonly users?: Record<string, string>
  readonly idem?: Record<string, string>
  /** Orders already decided; each is also in the stream, as the script would have left it. */
  readonly orders?: Record<string, NewOrder>
}

interface After {
  readonly sold: number
  readonly users: Record<string, string>
  readonly idem: Record<string, string>
  /** orderId -> [userId, quantity, idempotency key]; the times are checked against the replies. */
  readonly orders: Record<string, readonly [string, number, string]>
  readonly streamLength: number
}

interface Row {
  /** The test name: a sentence about behaviour. */
  readonly should: string
  readonly before: Before
  /** Calls in order; each is one EVALSHA with its attempts, answered one reply per attempt. */
  readonly calls: readonly {
    readonly attempts: readonly Attempt[]
    readonly replies: readonly Expect[]
  }[]
  /** 'unchanged': every key under the prefix is exactly as before the first call. */
  readonly after: After | 'unchanged'
}

/** The idem hash field: "<byte length of userId>:<userId><key>". */
function idem(userId: string, key: string): string {
  return `${Buffer.byteLength(userId)}:${userId}${key}`
}

function one(attempt: Attempt, reply: Expect) {
  return { attempts: [attempt], replies: [reply] }
}

/** An order decided earlier: u1 bought 1 unit with idempotency key 'k'. */
const O1: NewOrder = {
  userId: 'u1',
  quantity: 1,
  createdAt: 1_700_000_000_000,
  expiresAt: 1_700_000_300_000,
  idempotencyKey: 'k',
  status: 'reserved',
  paidAt: null,
}
/** The state O1 left: one unit sold to u1 under key 'k'. */
const AFTER_O1: Before = {
  sale: { sold: '1' },
  users: { u1: '1' },
  idem: { [idem('u1', 'k')]: 'o1' },
  orders: { o1: O1 },
}

const rows: Row[] = [
  // --- successes and stock
  {
    should:
      'reserves one unit: sold, user units, idempotency key, order and stream entry are written',
    before: { sale: {} },
    calls: [one(['o1', 'u1', 1, 'k1'], [0, 9, 'o1', 1])],
    after: {
      sold: 1,
      users: { u1: '1' },
      idem: { [idem('u1', 'k1')]: 'o1' },
      orders: { o1: ['u1', 1, 'k1'] },
      streamLength: 1,
    },
  },
  {
    should: 'sells exactly the last unit and answers remaining 0',
    before: { sale: { sold: '9' } },
    calls: [one(['o1', 'u1', 1, ''], [0, 0, 'o1', 1])],
    after: {
      sold: 10,
      users: { u1: '1' },
      idem: {},
      orders: { o1: ['u1', 1, ''] },
      streamLength: 1,
    },
  },
  {
    should: 'sells the last two units to one attempt of quantity two',
    before: { sale: { sold: '8' } },
    calls: [one(['o1', 'u1', 2, ''], [0, 0, 'o1', 2])],
    after: {
      sold: 10,
      users: { u1: '2' },
      idem: {},
      orders: { o1: ['u1', 2, ''] },
      streamLength: 1,
    },
  },
  {
    should: 'refuses a quantity larger than what remains with -1, all or nothing',
    before: { sale: { sold: '9' } },
    calls: [one(['o1', 'u1', 2, 'k'], [-1, 1])],
    after: 'unchanged',
  },
  {
    should: 'refuses any attempt on a sold-out sale with -1',
    before: { sale: { sold: '10' } },
    calls: [one(['o1', 'u1', 1, ''], [-1, 0])],
    after: 'unchanged',
  },
  {
    should: 'sells to the attempts that fit and refuses the one that does not, within one batch',
    before: { sale: { stock: '3' } },
    calls: [
      {
        attempts: [
          ['o1', 'u1', 2, ''],
          ['o2', 'u2', 2, ''],
          ['o3', 'u3', 1, ''],
        ],
        replies: [
          [0, 1, 'o1', 2],
          [-1, 1],
          [0, 0, 'o3', 1],
        ],
      },
    ],
    after: {
      sold: 3,
      users: { u1: '2', u3: '1' },
      idem: {},
      orders: { o1: ['u1', 2, ''], o3: ['u3', 1, ''] },
      streamLength: 2,
    },
  },
  {
    // 128 four-byte characters (emoji): the longest identifier HTTP lets through, 512 bytes.
    should: 'accepts the longest orderId (200 bytes), userId and idempotency key (512 bytes)',
    before: { sale: {} },
    calls: [
      one(['o'.repeat(200), '😀'.repeat(128), 1, '😀'.repeat(128)], [0, 9, 'o'.repeat(200), 1]),
    ],
    after: {
      sold: 1,
      users: { ['😀'.repeat(128)]: '1' },
      idem: { [idem('😀'.repeat(128), '😀'.repeat(128))]: 'o'.repeat(200) },
      orders: { ['o'.repeat(200)]: ['😀'.repeat(128), 1, '😀'.repeat(128)] },
      streamLength: 1,
    },
  },

  // --- invalid attempts: -6 and nothing written
  ...(
    [
      ['a quantity of 0', ['o1', 'u1', 0, 'k']],
      ['a negative quantity', ['o1', 'u1', -1, 'k']],
      ['a fractional quantity (1.5)', ['o1', 'u1', '1.5', 'k']],
      ['a quantity that is not a number (abc)', ['o1', 'u1', 'abc', 'k']],
      ['an empty quantity', ['o1', 'u1', '', 'k']],
      ['a quantity of nan', ['o1', 'u1', 'nan', 'k']],
      ['a quantity over perUserLimit', ['o1', 'u1', 3, 'k']],
      ['a quantity over perUserLimit from the anonymous user', ['o1', '', 3, '']],
      ['an empty orderId', ['', 'u1', 1, 'k']],
      ['an orderId over 200 bytes', ['o'.repeat(201), 'u1', 1, 'k']],
      ['a userId over 512 bytes', ['o1', 'u'.repeat(513), 1, 'k']],
      ['an idempotency key over 512 bytes', ['o1', 'u1', 1, 'k'.repeat(513)]],
    ] as const
  ).map(
    ([what, attempt]): Row => ({
      should: `refuses ${what} with -6 and writes nothing`,
      before: { sale: {} },
      calls: [one(attempt, [-6, 10])],
      after: 'unchanged',
    }),
  ),
  {
    should: 'checks the attempt before the window: an invalid quantity on a closed sale answers -6',
    before: { sale: { closed: '1' } },
    calls: [one(['o1', 'u1', 0, ''], [-6, 10])],
    after: 'unchanged',
  },

  // --- no such sale
  {
    should: 'answers -5 to every attempt, even a malformed one, when the sale does not exist',
    before: { sale: null },
    calls: [
      {
        attempts: [
          ['o1', 'u1', 1, 'k'],
          ['o2', '', 2, ''],
          ['o3', 'u3', 0, ''],
        ],
        replies: [
          [-5, 0],
          [-5, 0],
          [-5, 0],
        ],
      },
    ],
    after: 'unchanged',
  },

  // --- per-user limit
  {
    should: 'refuses with -2 a user who would go over the limit across two calls',
    before: { sale: {} },
    calls: [one(['o1', 'u1', 2, ''], [0, 8, 'o1', 2]), one(['o2', 'u1', 1, ''], [-2, 8])],
    after: {
      sold: 2,
      users: { u1: '2' },
      idem: {},
      orders: { o1: ['u1', 2, ''] },
      streamLength: 1,
    },
  },
  {
    should: 'counts the units a user already holds: 1 held + 2 is refused, 1 held + 1 is sold',
    before: AFTER_O1,
    calls: [one(['o2', 'u1', 2, ''], [-2, 9]), one(['o3', 'u1', 1, ''], [0, 8, 'o3', 1])],
    after: {
      sold: 2,
      users: { u1: '2' },
      idem: { [idem('u1', 'k')]: 'o1' },
      orders: { o1: ['u1', 1, 'k'], o3: ['u1', 1, ''] },
      streamLength: 2,
    },
  },
  {
    should: 'counts the units sold earlier in the same batch against the per-user limit',
    before: { sale: {} },
    calls: [
      {
        attempts: [
          ['o1', 'u1', 1, ''],
          ['o2', 'u1', 1, ''],
          ['o3', 'u1', 1, ''],
          ['o4', 'u2', 2, ''],
        ],
        replies: [
          [0, 9, 'o1', 1],
          [0, 8, 'o2', 1],
          [-2, 8],
          [0, 6, 'o4', 2],
        ],
      },
    ],
    after: {
      sold: 4,
      users: { u1: '2', u2: '2' },
      idem: {},
      orders: { o1: ['u1', 1, ''], o2: ['u1', 1, ''], o4: ['u2', 2, ''] },
      streamLength: 3,
    },
  },
  {
    should: "does not limit the anonymous user '' and keeps no units for it",
    before: { sale: {} },
    calls: [
      {
        attempts: [
          ['o1', '', 2, ''],
          ['o2', '', 2, ''],
        ],
        replies: [
          [0, 8, 'o1', 2],
          [0, 6, 'o2', 2],
        ],
      },
      one(['o3', '', 2, ''], [0, 4, 'o3', 2]),
    ],
    after: {
      sold: 6,
      users: {},
      idem: {},
      orders: { o1: ['', 2, ''], o2: ['', 2, ''], o3: ['', 2, ''] },
      streamLength: 3,
    },
  },

  // --- idempotency key
  {
    should: 'answers a replayed idempotency key with code 1 and the same orderId, adding nothing',
    before: { sale: {} },
    calls: [one(['o1', 'u1', 1, 'k'], [0, 9, 'o1', 1]), one(['o2', 'u1', 1, 'k'], [1, 9, 'o1', 1])],
    after: {
      sold: 1,
      users: { u1: '1' },
      idem: { [idem('u1', 'k')]: 'o1' },
      orders: { o1: ['u1', 1, 'k'] },
      streamLength: 1,
    },
  },
  {
    should: 'answers a replayed idempotency key with the stored order and its stored times',
    before: AFTER_O1,
    calls: [one(['o2', 'u1', 1, 'k'], [1, 9, 'o1', 1])],
    after: 'unchanged',
  },
  {
    should: 'answers a replayed idempotency key with the original quantity, whatever is asked now',
    before: AFTER_O1,
    calls: [one(['o2', 'u1', 2, 'k'], [1, 9, 'o1', 1])],
    after: 'unchanged',
  },
  {
    should: 'answers a replayed idempotency key within one batch with the first order',
    before: { sale: {} },
    calls: [
      {
        attempts: [
          ['o1', 'u1', 1, 'k'],
          ['o2', 'u1', 1, 'k'],
        ],
        replies: [
          [0, 9, 'o1', 1],
          [1, 9, 'o1', 1],
        ],
      },
    ],
    after: {
      sold: 1,
      users: { u1: '1' },
      idem: { [idem('u1', 'k')]: 'o1' },
      orders: { o1: ['u1', 1, 'k'] },
      streamLength: 1,
    },
  },
  {
    should: 'treats the same idempotency key from another user as a new order',
    before: AFTER_O1,
    calls: [one(['o2', 'u2', 1, 'k'], [0, 8, 'o2', 1])],
    after: {
      sold: 2,
      users: { u1: '1', u2: '1' },
      idem: { [idem('u1', 'k')]: 'o1', [idem('u2', 'k')]: 'o2' },
      orders: { o1: ['u1', 1, 'k'], o2: ['u2', 1, 'k'] },
      streamLength: 2,
    },
  },
  {
    should: 'keeps user and key apart in the idem field: ("u1", "2k") is not ("u12", "k")',
    before: { sale: {} },
    calls: [
      {
        attempts: [
          ['o1', 'u1', 1, '2k'],
          ['o2', 'u12', 1, 'k'],
        ],
        replies: [
          [0, 9, 'o1', 1],
          [0, 8, 'o2', 1],
        ],
      },
    ],
    after: {
      sold: 2,
      users: { u1: '1', u12: '1' },
      idem: { [idem('u1', '2k')]: 'o1', [idem('u12', 'k')]: 'o2' },
      orders: { o1: ['u1', 1, '2k'], o2: ['u12', 1, 'k'] },
      streamLength: 2,
    },
  },
  {
    should:
      'keeps user ids and keys of separators and digits apart in the order, and finds each again',
    before: { sale: {} },
    calls: [
      {
        attempts: [
          ['o1', '1', 1, '2:3,'],
          ['o2', '12:', 1, '3,'],
          ['o3', '', 1, '1:x'],
        ],
        replies: [
          [0, 9, 'o1', 1],
          [0, 8, 'o2', 1],
          [0, 7, 'o3', 1],
        ],
      },
      {
        attempts: [
          ['o1', '1', 1, '2:3,'],
          ['o4', '12:', 1, '3,'],
          ['o5', '', 1, '1:x'],
        ],
        replies: [
          [1, 7, 'o1', 1],
          [1, 7, 'o2', 1],
          [1, 7, 'o3', 1],
        ],
      },
    ],
    after: {
      sold: 3,
      users: { '1': '1', '12:': '1' },
      idem: { [idem('1', '2:3,')]: 'o1', [idem('12:', '3,')]: 'o2', [idem('', '1:x')]: 'o3' },
      orders: { o1: ['1', 1, '2:3,'], o2: ['12:', 1, '3,'], o3: ['', 1, '1:x'] },
      streamLength: 3,
    },
  },

  // --- re-sent commands (ioredis replays unanswered commands after a reconnect)
  {
    should: 'answers a re-sent attempt (same orderId) with code 1 and creates no second order',
    before: { sale: {} },
    calls: [one(['o1', 'u1', 1, 'k'], [0, 9, 'o1', 1]), one(['o1', 'u1', 1, 'k'], [1, 9, 'o1', 1])],
    after: {
      sold: 1,
      users: { u1: '1' },
      idem: { [idem('u1', 'k')]: 'o1' },
      orders: { o1: ['u1', 1, 'k'] },
      streamLength: 1,
    },
  },
  {
    should: 'finds a re-sent attempt by its orderId alone, without an idempotency key or a user',
    before: { sale: {} },
    calls: [
      {
        attempts: [
          ['o1', 'u1', 1, ''],
          ['o2', '', 1, ''],
        ],
        replies: [
          [0, 9, 'o1', 1],
          [0, 8, 'o2', 1],
        ],
      },
      {
        attempts: [
          ['o1', 'u1', 1, ''],
          ['o2', '', 1, ''],
        ],
        replies: [
          [1, 8, 'o1', 1],
          [1, 8, 'o2', 1],
        ],
      },
    ],
    after: {
      sold: 2,
      users: { u1: '1' },
      idem: {},
      orders: { o1: ['u1', 1, ''], o2: ['', 1, ''] },
      streamLength: 2,
    },
  },
  {
    should: 'answers a whole re-sent batch as before, without a new order or a changed refusal',
    before: { sale: {} },
    calls: [
      {
        attempts: [
          ['o1', 'u1', 1, ''],
          ['o2', 'u2', 2, ''],
          ['o3', 'u1', 2, ''],
        ],
        replies: [
          [0, 9, 'o1', 1],
          [0, 7, 'o2', 2],
          [-2, 7],
        ],
      },
      {
        attempts: [
          ['o1', 'u1', 1, ''],
          ['o2', 'u2', 2, ''],
          ['o3', 'u1', 2, ''],
        ],
        replies: [
          [1, 7, 'o1', 1],
          [1, 7, 'o2', 2],
          [-2, 7],
        ],
      },
    ],
    after: {
      sold: 3,
      users: { u1: '1', u2: '2' },
      idem: {},
      orders: { o1: ['u1', 1, ''], o2: ['u2', 2, ''] },
      streamLength: 2,
    },
  },
  {
    should: 'answers the same orderId twice in one batch with one order',
    before: { sale: {} },
    calls: [
      {
        attempts: [
          ['o1', 'u1', 1, ''],
          ['o1', 'u1', 1, ''],
        ],
        replies: [
          [0, 9, 'o1', 1],
          [1, 9, 'o1', 1],
        ],
      },
    ],
    after: {
      sold: 1,
      users: { u1: '1' },
      idem: {},
      orders: { o1: ['u1', 1, ''] },
      streamLength: 1,
    },
  },
  {
    should: 'finds a re-sent order even after the sale has closed',
    before: { ...AFTER_O1, sale: { sold: '1', closed: '1' } },
    calls: [one(['o1', 'u1', 1, 'k'], [1, 9, 'o1', 1])],
    after: 'unchanged',
  },

  // --- the sale window
  {
    should: 'refuses with -3 a sale neither started by hand nor given a start time',
    before: { sale: { started: '0', startsAt: '' } },
    calls: [one(['o1', 'u1', 1, 'k'], [-3, 10])],
    after: 'unchanged',
  },
  {
    should: 'refuses with -3 a sale whose startsAt is in the future',
    before: { sale: { started: '0', startsAt: FUTURE } },
    calls: [one(['o1', 'u1', 1, 'k'], [-3, 10])],
    after: 'unchanged',
  },
  {
    should: 'opens a sale by itself once startsAt has passed',
    before: { sale: { started: '0', startsAt: PAST, endsAt: FUTURE } },
    calls: [one(['o1', 'u1', 1, ''], [0, 9, 'o1', 1])],
    after: {
      sold: 1,
      users: { u1: '1' },
      idem: {},
      orders: { o1: ['u1', 1, ''] },
      streamLength: 1,
    },
  },
  {
    should: 'opens a sale started by hand before its startsAt',
    before: { sale: { started: '1', startsAt: FUTURE } },
    calls: [one(['o1', 'u1', 1, ''], [0, 9, 'o1', 1])],
    after: {
      sold: 1,
      users: { u1: '1' },
      idem: {},
      orders: { o1: ['u1', 1, ''] },
      streamLength: 1,
    },
  },
  {
    should: 'refuses with -4 a started sale whose endsAt has passed',
    before: { sale: { started: '1', endsAt: PAST } },
    calls: [one(['o1', 'u1', 1, 'k'], [-4, 10])],
    after: 'unchanged',
  },
  {
    should: 'refuses with -4 a sale whose whole window has passed, never started by hand',
    before: { sale: { started: '0', startsAt: String(Number(PAST) - HOUR), endsAt: PAST } },
    calls: [one(['o1', 'u1', 1, 'k'], [-4, 10])],
    after: 'unchanged',
  },
  {
    should: 'refuses with -4 a sale closed by hand',
    before: { sale: { started: '1', closed: '1' } },
    calls: [one(['o1', 'u1', 1, 'k'], [-4, 10])],
    after: 'unchanged',
  },
  {
    should: 'answers -4, not -3, for a sale closed before it ever started',
    before: { sale: { started: '0', closed: '1', startsAt: FUTURE } },
    calls: [one(['o1', 'u1', 1, 'k'], [-4, 10])],
    after: 'unchanged',
  },

  // --- a mixed batch
  {
    should: 'answers a mixed batch with one reply per attempt, in input order',
    before: { sale: { stock: '5' } },
    calls: [
      {
        attempts: [
          ['o1', 'u1', 1, ''],
          ['o2', 'u1', 0, ''],
          ['o3', 'u2', 2, 'k3'],
          ['o4', 'u2', 1, ''],
          ['o5', 'u3', 2, ''],
          ['o6', 'u4', 1, ''],
          ['o1', 'u1', 1, ''],
          ['o7', 'u2', 1, 'k3'],
        ],
        replies: [
          [0, 4, 'o1', 1],
          [-6, 4],
          [0, 2, 'o3', 2],
          [-2, 2],
          [0, 0, 'o5', 2],
          [-1, 0],
          [1, 0, 'o1', 1],
          [1, 0, 'o3', 2],
        ],
      },
    ],
    after: {
      sold: 5,
      users: { u1: '1', u2: '2', u3: '2' },
      idem: { [idem('u2', 'k3')]: 'o3' },
      orders: { o1: ['u1', 1, ''], o3: ['u2', 2, 'k3'], o5: ['u3', 2, ''] },
      streamLength: 3,
    },
  },
]

/**
 * HSET/XADD the state before, directly: it is the input of the contract, not a script's output.
 * The orders in `form`.
 */
async function seed(
  k: ReturnType<typeof freshSale>,
  before: Before,
  form: OrderForm = 'record',
): Promise<SaleHash | null> {
  const sale = before.sale ? await seedSale(redis, k.sale, before.sale) : null
  if (before.users) await redis.hset(k.users, before.users)
  if (before.idem) await redis.hset(k.idem, before.idem)
  for (const [orderId, o] of Object.entries(before.orders ?? {})) {
    await redis.hset(k.orders, orderId, storedValue(o, form))
    await redis.zadd(k.expiry, o.expiresAt, orderId)
    await redis.xadd(k.stream, '*', ...streamFields(orderId, o))
  }
  return sale
}

/** An order's stream entry, field for field, as reserve-6.lua appends it. */
function streamFields(orderId: string, o: StoredOrder): string[] {
  return orderEntry({ orderId, ...o, status: 'reserved', paidAt: '' })
}

function argvOf(attempts: readonly Attempt[]): (string | number)[] {
  return [attempts.length, ...attempts.flat()]
}

function reserve(
  k: ReturnType<typeof freshSale>,
  argv: (string | number)[],
): Promise<ReserveRawReply[]> {
  return redis.reserve(...RESERVE.keys(k), ...argv)
}

for (const form of ORDER_FORMS)
  for (const row of rows) {
    if (form !== 'record' && !row.before.orders) continue
    t.test(withForm(row.should, form), async (t) => {
      const k = freshSale(t, redis)
      const bell = await recordBell(t, k.bell)
      const sale = await seed(k, row.before, form)
      const first = await snapshot(redis, k)
      const stock = sale ? Number(sale.stock) : 0
      const ttlMs = sale ? Number(sale.ttl) * 1000 : 0
      /** orderId -> the times every later reply and the orders hash must repeat. */
      const times = new Map<string, { createdAt: number; expiresAt: number }>()
      for (const [id, o] of Object.entries(row.before.orders ?? {})) {
        times.set(id, { createdAt: o.createdAt, expiresAt: o.expiresAt })
      }

      let prev: SaleSnapshot = first
      for (const [c, call] of row.calls.entries()) {
        const t0 = await redisNowMs(redis)
        const replies = await reserve(k, [...argvOf(call.attempts), k.bell])
        const t1 = await redisNowMs(redis)
        const label = `call ${c + 1}`

        t.same(
          replies.map((r) => r.slice(0, 4)),
          call.replies,
          `${label}: one [code, remaining, orderId, quantity] per attempt, in input order`,
        )

        let sold = sale ? Number(prev.sale.sold) : 0
        const expectedEntries: string[][] = []
        for (const [i, r] of replies.entries()) {
          const [code, remaining, orderId, quantity, createdAt, expiresAt] = r
          const attempt = call.attempts[i]!
          if (code === 0) sold += quantity!
          t.equal(remaining, stock - sold, `${label}.${i + 1}: remaining is stock - sold`)
          if (code < 0) {
            t.equal(r.length, 2, `${label}.${i + 1}: a refusal carries only code and remaining`)
            continue
          }
          t.equal(r.length, 6, `${label}.${i + 1}: an order carries its id, quantity and times`)
          if (code === 0) {
            t.ok(createdAt! >= t0 && createdAt! <= t1, `${label}.${i + 1}: createdAt is Redis TIME`)
            t.equal(
              expiresAt! - createdAt!,
              ttlMs,
              `${label}.${i + 1}: expiresAt - createdAt = ttl`,
            )
            times.set(orderId!, { createdAt: createdAt!, expiresAt: expiresAt! })
            expectedEntries.push(
              streamFields(orderId!, {
                userId: attempt[1],
                quantity: quantity!,
                createdAt: createdAt!,
                expiresAt: expiresAt!,
                idempotencyKey: attempt[3],
                status: 'reserved',
                paidAt: null,
              }),
            )
          } else {
            t.same(
              { createdAt, expiresAt },
              times.get(orderId!),
              `${label}.${i + 1}: a repeated order carries its original times`,
            )
          }
        }

        const entries = await redis.xrange(
          k.stream,
          prev.streamLastId ? `(${prev.streamLastId}` : '-',
          '+',
        )
        t.same(
          entries.map(([, fields]) => fields),
          expectedEntries,
          `${label}: one stream entry per new order (code 0), with its fields, and no other`,
        )
        t.same(
          await bell.take(),
          expectedEntries.length === 0
            ? []
            : [`${expectedEntries.length}${sold >= stock ? ' sold-out' : ''}`],
          `${label}: the bell rang once, with the number of entries (and "sold-out" when the call sold the last unit), only when there were any`,
        )
        const now = await snapshot(redis, k)
        if (expectedEntries.length === 0) {
          t.same(now, prev, `${label}: no new order, so nothing changed`)
        }
        prev = now
      }

      const last = await snapshot(redis, k)
      if (row.after === 'unchanged') {
        t.same(last, first, 'every key under the prefix is as before')
        return
      }
      const a = row.after
      t.same(last.sale, { ...sale, sold: String(a.sold) }, 'sale hash: only sold changed')
      t.same(last.users, a.users, 'users hash')
      t.same(last.idem, a.idem, 'idem hash')
      const orders: Record<string, NewOrder> = {}
      for (const [id, [userId, quantity, idempotencyKey]] of Object.entries(a.orders)) {
        const at = times.get(id)
        orders[id] = {
          userId,
          quantity,
          createdAt: at?.createdAt ?? -1,
          expiresAt: at?.expiresAt ?? -1,
          idempotencyKey,
          status: 'reserved',
          paidAt: null,
        }
      }
      const parsed = Object.fromEntries(
        Object.entries(last.orders).map(([id, value]) => [id, decodeStoredOrder(value)]),
      )
      t.same(parsed, orders, 'orders hash: every order, with the times its reply carried')
      const seeded = row.before.orders ?? {}
      t.same(
        last.orders,
        Object.fromEntries(
          Object.entries(orders).map(([id, o]) => {
            const old = seeded[id]
            return [id, old ? storedValue(old, form) : encodeStoredOrder(o)]
          }),
        ),
        'orders hash: a new order as a record, byte for byte; one made earlier as it was',
      )
      t.equal(last.streamLength, a.streamLength, 'stream length (XLEN)')
      t.same(
        last.expiry,
        Object.fromEntries(Object.entries(orders).map(([id, o]) => [id, String(o.expiresAt)])),
        'expiry zset: every reserved order at its expiresAt',
      )
    })
  }

/**
 * Calls whose ARGV does not hold n attempts of 4 values and the bell channel: a caller fault,
 * answered by an error.
 */
const malformed: [string, (string | number)[]][] = [
  ['no ARGV at all', []],
  ['n = 0 and no attempt', [0]],
  ['n = 0 followed by one attempt', [0, 'o1', 'u1', 1, '', 'bell']],
  ['n = 2 with one attempt', [2, 'o1', 'u1', 1, '', 'bell']],
  ['n = 1 with three values', [1, 'o1', 'u1', 1, 'bell']],
  ['n = 1 with five values', [1, 'o1', 'u1', 1, '', 'extra', 'bell']],
  ['n = 1 with no bell channel', [1, 'o1', 'u1', 1, '']],
  ['n that is not a number', ['abc', 'o1', 'u1', 1, '', 'bell']],
  ['a fractional n', ['1.5', 'o1', 'u1', 1, '', 'bell']],
  ['a negative n', [-1, 'bell']],
  ['n = 1001, over the batch bound, with 1001 attempts', [1001, ...manyAttempts(1001), 'bell']],
]

function manyAttempts(n: number): (string | number)[] {
  const out: (string | number)[] = []
  for (let i = 0; i < n; i++) out.push(`o${i}`, `u${i}`, 1, '')
  return out
}

for (const [what, argv] of malformed) {
  t.test(
    `rejects a malformed call (${what}) with an error reply and changes nothing`,
    async (t) => {
      const k = freshSale(t, redis)
      await seed(k, AFTER_O1)
      const before = await snapshot(redis, k)
      await t.rejects(
        reserve(k, argv),
        /^ERR reserve: ARGV must be n, 4 values per attempt, then the bell channel/,
      )
      t.same(await snapshot(redis, k), before, 'every key under the prefix is as before')
    },
  )
}

for (const [what, value] of [
  ['an unknown status letter', 'x1,1700000000000,300000,,2:u1k'],
  ['a user id longer than the rest of the value', 'r1,1700000000000,300000,,9:u1k'],
  ['no user id length', 'r1,1700000000000,300000,,u1k'],
  ['a missing time', 'r1,1700000000000,,2:u1k'],
  ['nothing at all', ''],
] as const) {
  t.test(
    `stops with an error, having changed nothing, when a replay finds an order that is not an order (${what})`,
    async (t) => {
      const k = freshSale(t, redis)
      await seed(k, AFTER_O1)
      await redis.hset(k.orders, 'o1', value)
      const before = await snapshot(redis, k)
      await t.rejects(
        reserve(k, [1, 'o1', 'u1', 1, 'k', k.bell]),
        /order o1: its value in the orders hash is neither an order record nor JSON/,
      )
      await t.rejects(
        reserve(k, [1, 'o2', 'u1', 1, 'k', k.bell]),
        /order o1: its value in the orders hash is neither an order record nor JSON/,
        'found by its idempotency key',
      )
      t.same(await snapshot(redis, k), before, 'every key under the prefix is as before')
    },
  )
}

t.test('decides the largest batch (1000 attempts) in one call, one reply each', async (t) => {
  const k = freshSale(t, redis)
  await seedSale(redis, k.sale, { stock: '600' })
  const replies = await reserve(k, [1000, ...manyAttempts(1000), k.bell])
  t.equal(replies.length, 1000, 'one reply per attempt')
  t.same(
    replies.map((r) => r[0]),
    [...Array(600).fill(0), ...Array(400).fill(-1)],
    'the first 600 are sold, the rest refused as sold out',
  )
  t.same(replies[599]?.slice(0, 4), [0, 0, 'o599', 1], 'the 600th attempt takes the last unit')
  const after = await snapshot(redis, k)
  t.equal(after.sale.sold, '600', 'sold = stock')
  t.equal(after.streamLength, 600, 'one stream entry per order')
  t.equal(Object.keys(after.orders).length, 600, 'one order per sold unit')
})
