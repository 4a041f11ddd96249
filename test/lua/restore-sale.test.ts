import t from 'tap'
import {
  decodeStoredOrder,
  encodeStoredOrder,
  type StoredOrder,
} from '../../src/orders/order-record'
import { RESTORE_SALE } from '../../src/store/lua/restore-sale'
import { ORDER_FORMS, type OrderForm, storedValue, withForm } from '../helpers/orders'
import {
  DEFAULT_SALE,
  freshSale,
  openRedis,
  redisNowMs,
  type SaleHash,
  seedSale,
  snapshot,
} from '../helpers/redis'

/**
 * Contract of native-lua/restoreSale-6.lua. KEYS: sale, users, idem, orders, expiry, final. ARGV:
 * mode (create | append | merge), token, last, then for create the definition (name, stock,
 * perUserLimit, endsAt, ttl, closed, createdAt), then n and 8 values per order. Reply {0, added,
 * advanced, kept, sold}, or {-1} exists, {-5} no sale, {-11} not this restore, {-12} leftovers,
 * {-6, name} invalid. Every row runs on a fresh prefix: the state before is written directly,
 * the calls are made in order, and the whole state after is compared (or found unchanged),
 * the final zset included: a listing made by a call must carry that call's Redis time and no
 * later call may move it. A row whose state before holds orders runs twice: those orders as the
 * record the scripts write, and as the JSON the previous version wrote. Every order the script
 * writes is a record.
 */

const redis = openRedis(t)

const T = 1_700_000_000_000
const TTL_MS = 300_000
const CREATED = T - 10_000

type Status = 'reserved' | 'paid' | 'cancelled' | 'expired'

/** An order as restoreSale-6.lua takes it and as the orders hash keeps it. */
interface Order {
  readonly id: string
  readonly userId: string
  readonly quantity: number
  readonly status: Status
  readonly key: string
  readonly createdAt: number
  readonly expiresAt: number
  readonly paidAt: number | ''
}

function order(
  id: string,
  userId: string,
  quantity: number,
  status: Status,
  key = '',
  at = T,
): Order {
  return {
    id,
    userId,
    quantity,
    status,
    key,
    createdAt: at,
    expiresAt: at + TTL_MS,
    paidAt: status === 'paid' ? at + 1000 : '',
  }
}

/** The order as the orders hash keeps it, decoded. */
function stored(o: Order, over: Partial<Order> = {}): StoredOrder {
  const x = { ...o, ...over }
  return {
    userId: x.userId,
    quantity: x.quantity,
    createdAt: x.createdAt,
    expiresAt: x.expiresAt,
    idempotencyKey: x.key,
    status: x.status,
    paidAt: x.paidAt === '' ? null : x.paidAt,
  }
}

// What PostgreSQL holds of one sale: live units u1 2 (o1), u2 1 (o2 paid), anonymous 1 (o4):
// sold 4; o3 (cancelled) and o5 (expired) returned 2 units.
const O1 = order('s1.o1', 'u1', 2, 'reserved', 'k1')
const O2 = order('s1.o2', 'u2', 1, 'paid', 'k2')
const O3 = order('s1.o3', 'u3', 1, 'cancelled')
const O4 = order('s1.o4', '', 1, 'reserved', 'k4')
const O5 = order('s1.o5', 'u1', 1, 'expired', 'k5', T - 3_600_000)
const ALL = [O1, O2, O3, O4, O5]
/** The latest time restoreSale-6.lua takes is 10^15 ms: 16 digits, past Lua's 14 of tostring. */
const BIG = order('s1.big', '12:', 1, 'paid', ',k', 1e15 - TTL_MS)
const ODD = order('s1.odd', '😀,', 1, 'reserved', ':😀')

interface Definition {
  name: string | number
  stock: string | number
  perUserLimit: string | number
  endsAt: string | number
  ttl: string | number
  closed: string
  createdAt: string | number
}

const DEF: Definition = {
  name: 'Phone',
  stock: 10,
  perUserLimit: 2,
  endsAt: '',
  ttl: 300,
  closed: '0',
  createdAt: CREATED,
}

function orderArgs(orders: readonly Order[]): (string | number)[] {
  return [
    orders.length,
    ...orders.flatMap((o) => [
      o.id,
      o.userId,
      o.quantity,
      o.status,
      o.key,
      o.createdAt,
      o.expiresAt,
      o.paidAt,
    ]),
  ]
}

function create(
  orders: readonly Order[],
  last = '1',
  over: Partial<Definition> = {},
  token = 'tok',
): (string | number)[] {
  const d = { ...DEF, ...over }
  return [
    'create',
    token,
    last,
    d.name,
    d.stock,
    d.perUserLimit,
    d.endsAt,
    d.ttl,
    d.closed,
    d.createdAt,
    ...orderArgs(orders),
  ]
}

function append(orders: readonly Order[], last = '1', token = 'tok'): (string | number)[] {
  return ['append', token, last, ...orderArgs(orders)]
}

function merge(orders: readonly Order[]): (string | number)[] {
  return ['merge', 'tok', '0', ...orderArgs(orders)]
}

/** The sale hash a create of DEF leaves once the last chunk is in. */
function restoredHash(over: Record<string, string> = {}): Record<string, string> {
  return {
    name: 'Phone',
    stock: '10',
    sold: '0',
    perUserLimit: '2',
    startsAt: '',
    endsAt: '',
    ttl: '300',
    started: '0',
    closed: '0',
    createdAt: String(CREATED),
    returned: '0',
    restoredBy: 'tok',
    ...over,
  }
}

/**
 * The state after ALL is restored into an empty Redis, in any number of chunks; `call` is the
 * call that sent O3 and O5 first (it lists them).
 */
function allRestored(call: number): After {
  return {
    sale: restoredHash({ sold: '4', returned: '2' }),
    users: { u1: '2', u2: '1' },
    idem: { '2:u1k1': O1.id, '2:u2k2': O2.id, '0:k4': O4.id, '2:u1k5': O5.id },
    orders: Object.fromEntries(ALL.map((o) => [o.id, stored(o)])),
    expiry: { [O1.id]: String(O1.expiresAt), [O4.id]: String(O4.expiresAt) },
    final: { [O3.id]: { call }, [O5.id]: { call } },
  }
}

interface Before {
  /** sale hash fields over DEFAULT_SALE; null: no sale hash (or only `raw`) */
  readonly sale: (Partial<SaleHash> & { returned?: string }) | null
  /** a sale hash written as it is, without DEFAULT_SALE (an unfinished restore) */
  readonly raw?: Record<string, string>
  readonly orders?: readonly Order[]
  readonly users?: Record<string, string>
  readonly idem?: Record<string, string>
  /** the final zset: orderId -> score, as the order writer leaves it; absent: no final zset */
  readonly final?: Record<string, number>
}

/**
 * A member of the final zset after the calls: a number is the exact score of a listing from
 * before; `{ call: i }` was listed by the i-th call (1-based): its score lies between Redis TIME
 * read just before and just after that call, and is the same as right after that call.
 */
type Listed = number | { readonly call: number }

interface After {
  readonly sale: Record<string, string>
  readonly users: Record<string, string>
  readonly idem: Record<string, string>
  readonly orders: Record<string, StoredOrder>
  readonly expiry: Record<string, string>
  /** the final zset: exactly the cancelled and expired orders listed, nothing else */
  readonly final: Record<string, Listed>
}

interface Row {
  /** The test name: a sentence about behaviour. */
  readonly should: string
  readonly before: Before
  readonly calls: readonly { readonly argv: (string | number)[]; readonly reply: unknown[] }[]
  /** 'unchanged': every key under the prefix is exactly as before the first call. */
  readonly after: After | 'unchanged'
}

/** The sale hash of a restore between chunks: no stock yet (no sale to anyone), restoreStock. */
function unfinished(over: Record<string, string> = {}): Record<string, string> {
  const { stock, ...rest } = restoredHash(over)
  return { ...rest, restoreStock: stock! }
}
const UNFINISHED = unfinished({ sold: '2' })

const INVALID: [string, (string | number)[], string][] = [
  ['an unknown mode', ['restore', 'tok', '1', ...orderArgs([])], 'mode'],
  ['an empty token', ['append', '', '1', ...orderArgs([])], 'token'],
  ['a token over 64 bytes', ['append', 'x'.repeat(65), '1', ...orderArgs([])], 'token'],
  ['a last flag other than 0 or 1', ['append', 'tok', 'yes', ...orderArgs([])], 'last'],
  ['an empty name', create([], '1', { name: '' }), 'name'],
  ['a name over 1000 bytes', create([], '1', { name: 'n'.repeat(1001) }), 'name'],
  ['a negative stock', create([], '1', { stock: -1 }), 'stock'],
  ['a fractional stock', create([], '1', { stock: 1.5 }), 'stock'],
  ['a perUserLimit of 0', create([], '1', { perUserLimit: 0 }), 'perUserLimit'],
  ['an endsAt that is not epoch ms', create([], '1', { endsAt: 'soon' }), 'endsAt'],
  ['a payment ttl of 0', create([], '1', { ttl: 0 }), 'paymentTtlSeconds'],
  ['a closed flag other than 0 or 1', create([], '1', { closed: 'true' }), 'closed'],
  ['a missing createdAt', create([], '1', { createdAt: '' }), 'createdAt'],
  [
    'n larger than the orders given',
    [...append([O1]).slice(0, 3), 2, ...append([O1]).slice(4)],
    'n',
  ],
  ['n over 1000', ['append', 'tok', '1', 1001], 'n'],
  ['an empty orderId', append([{ ...O1, id: '' }]), 'orderId'],
  ['an orderId over 200 bytes', append([{ ...O1, id: 'o'.repeat(201) }]), 'orderId'],
  ['a userId over 512 bytes', append([{ ...O1, userId: 'u'.repeat(513) }]), 'userId'],
  ['a quantity of 0', append([{ ...O1, quantity: 0 }]), 'quantity'],
  ['an unknown status', append([{ ...O1, status: 'refunded' as Status }]), 'status'],
  ['a key over 512 bytes', append([{ ...O1, key: 'k'.repeat(513) }]), 'idempotencyKey'],
  ['an expiresAt that is not epoch ms', append([{ ...O1, expiresAt: -1 }]), 'createdAt/expiresAt'],
  ['a reserved order with a paidAt', append([{ ...O1, paidAt: T }]), 'paidAt'],
  ['a paid order without paidAt', append([{ ...O2, paidAt: '' }]), 'paidAt'],
  ['a bad order after a good one', append([O2, { ...O1, quantity: -2 }]), 'quantity'],
]

const rows: Row[] = [
  // --- create: a sale Redis lost
  {
    should:
      'rebuilds the sale, its orders of every state, holdings, keys and deadlines in one call, not started',
    before: { sale: null },
    calls: [{ argv: create(ALL), reply: [0, 5, 0, 0, 4] }],
    after: allRestored(1),
  },
  {
    should:
      'keeps a 16-digit time exactly, and user ids and keys of separators and multi-byte characters',
    before: { sale: null },
    calls: [{ argv: create([BIG, ODD]), reply: [0, 2, 0, 0, 2] }],
    after: {
      sale: restoredHash({ sold: '2' }),
      users: { '12:': '1', '😀,': '1' },
      idem: { '3:12:,k': BIG.id, '5:😀,:😀': ODD.id },
      orders: { [BIG.id]: stored(BIG), [ODD.id]: stored(ODD) },
      expiry: { [ODD.id]: String(ODD.expiresAt) },
      final: {},
    },
  },
  {
    should: 'rebuilds a sale without orders as a sale with nothing sold',
    before: { sale: null },
    calls: [{ argv: create([]), reply: [0, 0, 0, 0, 0] }],
    after: { sale: restoredHash(), users: {}, idem: {}, orders: {}, expiry: {}, final: {} },
  },
  {
    should: 'keeps the end time and the closed flag, and never a start time',
    before: { sale: null },
    calls: [{ argv: create([O2], '1', { endsAt: T + 1, closed: '1' }), reply: [0, 1, 0, 0, 1] }],
    after: {
      sale: restoredHash({ sold: '1', endsAt: String(T + 1), closed: '1' }),
      users: { u2: '1' },
      idem: { '2:u2k2': O2.id },
      orders: { [O2.id]: stored(O2) },
      expiry: {},
      final: {},
    },
  },
  {
    should: 'leaves the sale without stock (no sale to buyers) until the last chunk',
    before: { sale: null },
    calls: [{ argv: create([O1, O2], '0'), reply: [0, 2, 0, 0, 3] }],
    after: {
      sale: unfinished({ sold: '3' }),
      users: { u1: '2', u2: '1' },
      idem: { '2:u1k1': O1.id, '2:u2k2': O2.id },
      orders: { [O1.id]: stored(O1), [O2.id]: stored(O2) },
      expiry: { [O1.id]: String(O1.expiresAt) },
      final: {},
    },
  },
  {
    should: 'ends in the same state when the sale comes in two chunks',
    before: { sale: null },
    calls: [
      { argv: create([O1, O2], '0'), reply: [0, 2, 0, 0, 3] },
      { argv: append([O3, O4, O5]), reply: [0, 3, 0, 0, 4] },
    ],
    after: allRestored(2),
  },
  {
    should: 'counts nothing twice when a chunk is sent again',
    before: { sale: null },
    calls: [
      { argv: create([O1, O2], '0'), reply: [0, 2, 0, 0, 3] },
      { argv: append([O3, O4, O5], '0'), reply: [0, 3, 0, 0, 4] },
      { argv: append([O3, O4, O5]), reply: [0, 0, 0, 3, 4] },
    ],
    after: allRestored(2),
  },
  {
    should: 'takes a first chunk sent again under the same token for the same restore',
    before: { sale: null },
    calls: [
      { argv: create(ALL), reply: [0, 5, 0, 0, 4] },
      { argv: create(ALL), reply: [0, 0, 0, 5, 4] },
    ],
    after: allRestored(1),
  },
  {
    should: 'finishes a restore that stopped between chunks when its chunks are sent again',
    before: {
      sale: null,
      raw: UNFINISHED,
      orders: [O1],
      users: { u1: '2' },
      idem: { '2:u1k1': O1.id },
    },
    calls: [{ argv: append(ALL), reply: [0, 4, 0, 1, 4] }],
    after: allRestored(1),
  },
  {
    should: 'gives a key to the live order when a cancelled order had the same key',
    before: { sale: null },
    calls: [
      {
        argv: create([
          order('s1.a', 'u1', 1, 'cancelled', 'k'),
          order('s1.b', 'u1', 1, 'reserved', 'k'),
        ]),
        reply: [0, 2, 0, 0, 1],
      },
    ],
    after: {
      sale: restoredHash({ sold: '1', returned: '1' }),
      users: { u1: '1' },
      idem: { '2:u1k': 's1.b' },
      orders: {
        's1.a': stored(order('s1.a', 'u1', 1, 'cancelled', 'k')),
        's1.b': stored(order('s1.b', 'u1', 1, 'reserved', 'k')),
      },
      expiry: { 's1.b': String(T + TTL_MS) },
      final: { 's1.a': { call: 1 } },
    },
  },
  {
    should: 'gives a key to the live order whichever comes first',
    before: { sale: null },
    calls: [
      {
        argv: create([
          order('s1.b', 'u1', 1, 'reserved', 'k'),
          order('s1.a', 'u1', 1, 'cancelled', 'k'),
        ]),
        reply: [0, 2, 0, 0, 1],
      },
    ],
    after: {
      sale: restoredHash({ sold: '1', returned: '1' }),
      users: { u1: '1' },
      idem: { '2:u1k': 's1.b' },
      orders: {
        's1.a': stored(order('s1.a', 'u1', 1, 'cancelled', 'k')),
        's1.b': stored(order('s1.b', 'u1', 1, 'reserved', 'k')),
      },
      expiry: { 's1.b': String(T + TTL_MS) },
      final: { 's1.a': { call: 1 } },
    },
  },

  {
    should:
      'lists every cancelled and expired order it rebuilds in the final zset, at the Redis time of the call',
    before: { sale: null },
    calls: [{ argv: create([O3, O5]), reply: [0, 2, 0, 0, 0] }],
    after: {
      sale: restoredHash({ returned: '2' }),
      users: {},
      idem: { '2:u1k5': O5.id },
      orders: { [O3.id]: stored(O3), [O5.id]: stored(O5) },
      expiry: {},
      final: { [O3.id]: { call: 1 }, [O5.id]: { call: 1 } },
    },
  },
  {
    should: 'never lists a reserved or paid order in the final zset',
    before: { sale: null },
    calls: [{ argv: create([O1, O2, O4]), reply: [0, 3, 0, 0, 4] }],
    after: {
      sale: restoredHash({ sold: '4' }),
      users: { u1: '2', u2: '1' },
      idem: { '2:u1k1': O1.id, '2:u2k2': O2.id, '0:k4': O4.id },
      orders: { [O1.id]: stored(O1), [O2.id]: stored(O2), [O4.id]: stored(O4) },
      expiry: { [O1.id]: String(O1.expiresAt), [O4.id]: String(O4.expiresAt) },
      final: {},
    },
  },
  {
    should: 'keeps the first listing of a final order when its chunk is sent again',
    before: { sale: null },
    calls: [
      { argv: create([O3], '0'), reply: [0, 1, 0, 0, 0] },
      { argv: append([O3, O5], '0'), reply: [0, 1, 0, 1, 0] },
      { argv: append([O3, O5]), reply: [0, 0, 0, 2, 0] },
    ],
    after: {
      sale: restoredHash({ returned: '2' }),
      users: {},
      idem: { '2:u1k5': O5.id },
      orders: { [O3.id]: stored(O3), [O5.id]: stored(O5) },
      expiry: {},
      final: { [O3.id]: { call: 1 }, [O5.id]: { call: 2 } },
    },
  },
  {
    should:
      'lists the final orders an unfinished restore left unlisted when their chunk comes again',
    before: { sale: null, raw: unfinished({ returned: '1' }), orders: [O3] },
    calls: [{ argv: append([O3]), reply: [0, 0, 0, 1, 0] }],
    after: {
      sale: restoredHash({ returned: '1' }),
      users: {},
      idem: {},
      orders: { [O3.id]: stored(O3) },
      expiry: {},
      final: { [O3.id]: { call: 1 } },
    },
  },
  {
    should: 'rebuilds over a final zset left without a sale hash: it holds no units',
    before: { sale: null, final: { 's1.gone': T } },
    calls: [{ argv: create([O3]), reply: [0, 1, 0, 0, 0] }],
    after: {
      sale: restoredHash({ returned: '1' }),
      users: {},
      idem: {},
      orders: { [O3.id]: stored(O3) },
      expiry: {},
      final: { 's1.gone': T, [O3.id]: { call: 1 } },
    },
  },

  // --- refusals: nothing changes
  {
    should: 'refuses to create over a sale that exists ({-1})',
    before: { sale: { sold: '1' }, orders: [O2], users: { u2: '1' } },
    calls: [{ argv: create(ALL), reply: [-1] }],
    after: 'unchanged',
  },
  {
    should: 'refuses to create over another restore under way ({-1})',
    before: { sale: null, raw: { ...UNFINISHED, restoredBy: 'other' } },
    calls: [{ argv: create(ALL), reply: [-1] }],
    after: 'unchanged',
  },
  {
    should: 'refuses to create when orders of the sale are left without a sale hash ({-12})',
    before: { sale: null, orders: [O1] },
    calls: [{ argv: create(ALL), reply: [-12] }],
    after: 'unchanged',
  },
  {
    should: 'refuses to create when user holdings are left without a sale hash ({-12})',
    before: { sale: null, users: { u1: '2' } },
    calls: [{ argv: create(ALL), reply: [-12] }],
    after: 'unchanged',
  },
  {
    should: 'refuses to append to no sale ({-5})',
    before: { sale: null },
    calls: [{ argv: append(ALL), reply: [-5] }],
    after: 'unchanged',
  },
  {
    should: 'refuses to append under another token ({-11})',
    before: { sale: null, raw: UNFINISHED },
    calls: [{ argv: append(ALL, '1', 'other'), reply: [-11] }],
    after: 'unchanged',
  },
  {
    should: 'refuses to append to a sale no restore made ({-11})',
    before: { sale: {} },
    calls: [{ argv: append(ALL), reply: [-11] }],
    after: 'unchanged',
  },
  {
    should: 'refuses to merge into no sale ({-5})',
    before: { sale: null },
    calls: [{ argv: merge(ALL), reply: [-5] }],
    after: 'unchanged',
  },
  {
    should: 'refuses to merge into an unfinished restore ({-11})',
    before: { sale: null, raw: UNFINISHED },
    calls: [{ argv: merge(ALL), reply: [-11] }],
    after: 'unchanged',
  },
  ...INVALID.map(
    ([what, argv, field]): Row => ({
      should: `refuses ${what} with {-6, '${field}'} and writes nothing`,
      before: { sale: null },
      calls: [{ argv, reply: [-6, field] }],
      after: 'unchanged',
    }),
  ),

  // --- merge: a sale Redis kept only part of
  {
    should: 'merges the orders Redis lacks, counting their units, and keeps the rest as it was',
    before: {
      sale: { sold: '2', returned: '0' },
      orders: [O1],
      users: { u1: '2' },
      idem: { '2:u1k1': O1.id },
    },
    calls: [{ argv: merge([O1, O2, O3]), reply: [0, 2, 0, 1, 3] }],
    after: {
      sale: seeded({ sold: '3', returned: '1' }),
      users: { u1: '2', u2: '1' },
      idem: { '2:u1k1': O1.id, '2:u2k2': O2.id },
      orders: { [O1.id]: stored(O1), [O2.id]: stored(O2), [O3.id]: stored(O3) },
      expiry: { [O1.id]: String(O1.expiresAt) },
      final: { [O3.id]: { call: 1 } },
    },
  },
  {
    should: 'moves an order Redis shows reserved to the cancelled state PostgreSQL holds, once',
    before: { sale: { sold: '2', returned: '0' }, orders: [O1], users: { u1: '2' } },
    calls: [
      { argv: merge([{ ...O1, status: 'cancelled' }]), reply: [0, 0, 1, 0, 0] },
      { argv: merge([{ ...O1, status: 'cancelled' }]), reply: [0, 0, 0, 1, 0] },
    ],
    after: {
      sale: seeded({ sold: '0', returned: '2' }),
      users: {},
      idem: {},
      orders: { [O1.id]: stored(O1, { status: 'cancelled' }) },
      expiry: {},
      // Listed by the call that moved it; the second call leaves the listing as it was.
      final: { [O1.id]: { call: 1 } },
    },
  },
  {
    should: 'moves an order Redis shows reserved to paid without changing sold',
    before: { sale: { sold: '2' }, orders: [O1], users: { u1: '2' } },
    calls: [{ argv: merge([{ ...O1, status: 'paid', paidAt: T + 5 }]), reply: [0, 0, 1, 0, 2] }],
    after: {
      sale: seeded({ sold: '2' }),
      users: { u1: '2' },
      idem: {},
      orders: { [O1.id]: stored(O1, { status: 'paid', paidAt: T + 5 }) },
      expiry: {},
      final: {},
    },
  },
  {
    should: "keeps Redis's final state of an order PostgreSQL still shows reserved",
    before: { sale: { sold: '1' }, orders: [O2], users: { u2: '1' } },
    calls: [{ argv: merge([{ ...O2, status: 'reserved', paidAt: '' }]), reply: [0, 0, 0, 1, 1] }],
    after: 'unchanged',
  },
  {
    should: 'never removes an order nor lowers sold for an order PostgreSQL lacks',
    before: { sale: { sold: '2' }, orders: [O1], users: { u1: '2' } },
    calls: [{ argv: merge([]), reply: [0, 0, 0, 0, 2] }],
    after: 'unchanged',
  },
  {
    should: 'keeps a key Redis maps to a live order, and still counts the other order',
    before: {
      sale: { sold: '1' },
      orders: [order('s1.x', 'u1', 1, 'reserved', 'k')],
      users: { u1: '1' },
      idem: { '2:u1k': 's1.x' },
    },
    calls: [{ argv: merge([order('s1.y', 'u1', 1, 'reserved', 'k')]), reply: [0, 1, 0, 0, 2] }],
    after: {
      sale: seeded({ sold: '2' }),
      users: { u1: '2' },
      idem: { '2:u1k': 's1.x' },
      orders: {
        's1.x': stored(order('s1.x', 'u1', 1, 'reserved', 'k')),
        's1.y': stored(order('s1.y', 'u1', 1, 'reserved', 'k')),
      },
      expiry: { 's1.x': String(T + TTL_MS), 's1.y': String(T + TTL_MS) },
      final: {},
    },
  },
  {
    should: 'lists an expired order it merges in, at the Redis time of the call',
    before: { sale: { returned: '0' } },
    calls: [{ argv: merge([O5]), reply: [0, 1, 0, 0, 0] }],
    after: {
      sale: seeded({ returned: '1' }),
      users: {},
      idem: { '2:u1k5': O5.id },
      orders: { [O5.id]: stored(O5) },
      expiry: {},
      final: { [O5.id]: { call: 1 } },
    },
  },
  {
    should: 'lists a cancelled order Redis already held cancelled but had not listed',
    before: { sale: { returned: '1' }, orders: [O3] },
    calls: [{ argv: merge([O3]), reply: [0, 0, 0, 1, 0] }],
    after: {
      sale: seeded({ returned: '1' }),
      users: {},
      idem: {},
      orders: { [O3.id]: stored(O3) },
      expiry: {},
      final: { [O3.id]: { call: 1 } },
    },
  },
  {
    should: 'keeps the score of a listing the order writer already made',
    before: { sale: { returned: '1' }, orders: [O3], final: { [O3.id]: T } },
    calls: [{ argv: merge([O3]), reply: [0, 0, 0, 1, 0] }],
    after: 'unchanged',
  },
  {
    should: 'does not list an order Redis holds cancelled while PostgreSQL still shows it reserved',
    before: { sale: { returned: '1' }, orders: [O3] },
    calls: [{ argv: merge([{ ...O3, status: 'reserved' }]), reply: [0, 0, 0, 1, 0] }],
    after: 'unchanged',
  },
]

/** DEFAULT_SALE as seedSale writes it, with fields over it. */
function seeded(over: Record<string, string>): Record<string, string> {
  return { ...DEFAULT_SALE, ...over }
}

type Keys = ReturnType<typeof freshSale>

async function seed(k: Keys, before: Before, form: OrderForm): Promise<void> {
  if (before.sale) await seedSale(redis, k.sale, before.sale)
  if (before.raw) await redis.hset(k.sale, before.raw)
  for (const o of before.orders ?? []) {
    await redis.hset(k.orders, o.id, storedValue(stored(o), form))
    if (o.status === 'reserved') await redis.zadd(k.expiry, o.expiresAt, o.id)
  }
  if (before.users && Object.keys(before.users).length) await redis.hset(k.users, before.users)
  if (before.idem && Object.keys(before.idem).length) await redis.hset(k.idem, before.idem)
  for (const [id, score] of Object.entries(before.final ?? {})) await redis.zadd(k.final, score, id)
}

/** The final zset: orderId -> score. */
async function finalOf(k: Keys): Promise<Record<string, string>> {
  const z = await redis.zrange(k.final, 0, -1, 'WITHSCORES')
  const out: Record<string, string> = {}
  for (let i = 0; i < z.length; i += 2) out[z[i]!] = z[i + 1]!
  return out
}

function parsed(orders: Record<string, string>): Record<string, StoredOrder> {
  return Object.fromEntries(Object.entries(orders).map(([id, v]) => [id, decodeStoredOrder(v)]))
}

/** The orders hash expected byte for byte: an order the calls left as it was keeps its value. */
function values(first: Record<string, string>, want: Record<string, StoredOrder>) {
  return Object.fromEntries(
    Object.entries(want).map(([id, o]) => {
      const was = first[id]
      const same =
        was !== undefined && encodeStoredOrder(decodeStoredOrder(was)) === encodeStoredOrder(o)
      return [id, same ? was : encodeStoredOrder(o)]
    }),
  )
}

for (const form of ORDER_FORMS)
  for (const row of rows) {
    if (form !== 'record' && !row.before.orders?.length) continue
    t.test(withForm(row.should, form), async (t) => {
      const k = freshSale(t, redis)
      await seed(k, row.before, form)
      const first = { ...(await snapshot(redis, k)), final: await finalOf(k) }
      // Per call: Redis TIME just before and just after it, and the final zset it left.
      const windows: (readonly [number, number])[] = []
      const finalAfter: Record<string, string>[] = []
      for (const [i, call] of row.calls.entries()) {
        const from = await redisNowMs(redis)
        const reply = await redis.restoreSale(...RESTORE_SALE.keys(k), ...call.argv)
        windows.push([from, await redisNowMs(redis)])
        finalAfter.push(await finalOf(k))
        t.same(reply, call.reply, `call ${i + 1}: reply`)
      }
      const last = { ...(await snapshot(redis, k)), final: await finalOf(k) }
      if (row.after === 'unchanged') {
        t.same(last, first, 'every key under the prefix is as before, the final zset too')
        return
      }
      const a = row.after
      t.same(last.sale, a.sale, 'the sale hash')
      t.same(last.users, a.users, 'units held per user')
      t.same(last.idem, a.idem, 'idempotency keys')
      t.same(parsed(last.orders), a.orders, 'the orders hash, in the shape reserve-6.lua keeps')
      t.same(
        last.orders,
        values(first.orders, a.orders),
        'the orders hash byte for byte: an order written or changed here is a record',
      )
      t.same(last.expiry, a.expiry, 'payment deadlines of reserved orders only')
      t.same(
        Object.keys(last.final).sort(),
        Object.keys(a.final).sort(),
        'the final zset lists exactly the cancelled and expired orders expected',
      )
      for (const [id, want] of Object.entries(a.final)) {
        const got = last.final[id]
        if (typeof want === 'number') {
          t.equal(got, String(want), `${id}: the listing from before keeps its score`)
          continue
        }
        const [from, to] = windows[want.call - 1]!
        t.ok(
          Number(got) >= from && Number(got) <= to,
          `${id}: scored with the Redis time of call ${want.call} (${got} in [${from}, ${to}])`,
        )
        t.equal(got, finalAfter[want.call - 1]![id], `${id}: no later call moved its listing`)
      }
      t.equal(last.streamLength, 0, 'nothing appended to the order stream')
      const expectedKeys = [
        k.sale,
        ...(Object.keys(a.users).length ? [k.users] : []),
        ...(Object.keys(a.idem).length ? [k.idem] : []),
        ...(Object.keys(a.orders).length ? [k.orders] : []),
        ...(Object.keys(a.expiry).length ? [k.expiry] : []),
        ...(Object.keys(a.final).length ? [k.final] : []),
      ].sort()
      t.same(last.keys, expectedKeys, 'no key written outside the six')
    })
  }

t.test(
  'merge stops with an error, having changed nothing, at a value that is not an order',
  async (t) => {
    const k = freshSale(t, redis)
    await seed(k, { sale: { sold: '2' }, orders: [O1], users: { u1: '2' } }, 'record')
    await redis.hset(k.orders, O1.id, 'r2,1700000000000,300000,,2')
    const before = await snapshot(redis, k)
    await t.rejects(
      redis.restoreSale(...RESTORE_SALE.keys(k), ...merge([{ ...O1, status: 'cancelled' }])),
      /order s1.o1: its value in the orders hash is neither an order record nor JSON/,
    )
    t.same(await snapshot(redis, k), before, 'every key under the prefix is as before')
  },
)
