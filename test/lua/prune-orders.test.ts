import t from 'tap'
import { PRUNE_ORDERS } from '../../src/store/lua/prune-orders'
import { ORDER_FORMS, storedValue, withForm } from '../helpers/orders'
import { freshSale, keysUnder, openRedis, redisNowMs } from '../helpers/redis'

/**
 * Contract of native-lua/pruneOrders-3.lua. KEYS: final zset, orders, idem. ARGV: retention ms,
 * most per call. Reply: {forgotten, still due} or {-6}. Every row runs on a fresh prefix with the
 * state before written directly: orders in the shape reserve-6.lua and settleOrder-5.lua leave
 * them (each row runs twice: with orders in the record the scripts write, and in the JSON the
 * previous version wrote), the final zset as the order writer leaves it (scored by when the order
 * became final).
 */

const redis = openRedis(t)

type Status = 'reserved' | 'paid' | 'cancelled' | 'expired'

/** An order before the call: [userId, idempotency key, status, final this many ms ago or null]. */
type Seed = readonly [userId: string, key: string, status: Status, finalAgoMs: number | null]

interface Row {
  readonly should: string
  readonly orders: Record<string, Seed>
  readonly argv: readonly (string | number)[]
  readonly replies: readonly (readonly number[])[]
  /** order ids left in the orders hash; absent: all of them (nothing changed) */
  readonly ordersLeft?: readonly string[]
  /** idem fields left; absent: all of them */
  readonly idemLeft?: readonly string[]
  /** final zset members left; absent: all of them */
  readonly finalLeft?: readonly string[]
}

const MIN = 60_000
const idemField = (user: string, key: string) => `${Buffer.byteLength(user)}:${user}${key}`

const rows: Row[] = [
  {
    should: 'forgets a cancelled and an expired order past the retention, with their idem keys',
    orders: {
      o1: ['u1', 'k1', 'cancelled', 2 * MIN],
      o2: ['u2', 'k2', 'expired', 2 * MIN],
      o3: ['u3', 'k3', 'paid', null],
      o4: ['u4', 'k4', 'reserved', null],
    },
    argv: [MIN, 100],
    replies: [[2, 0]],
    ordersLeft: ['o3', 'o4'],
    idemLeft: [idemField('u3', 'k3'), idemField('u4', 'k4')],
    finalLeft: [],
  },
  {
    should: 'keeps final orders inside the retention: a replay still finds them',
    orders: { o1: ['u1', 'k1', 'cancelled', MIN / 2], o2: ['u2', '', 'expired', 2 * MIN] },
    argv: [MIN, 100],
    replies: [[1, 0]],
    ordersLeft: ['o1'],
    idemLeft: [idemField('u1', 'k1')],
    finalLeft: ['o1'],
  },
  {
    should: 'forgets at most `most` per call and says how many are still due',
    orders: {
      o1: ['u1', '', 'cancelled', 5 * MIN],
      o2: ['u2', '', 'cancelled', 4 * MIN],
      o3: ['u3', '', 'expired', 3 * MIN],
    },
    argv: [MIN, 2],
    replies: [
      [2, 1],
      [1, 0],
      [0, 0],
    ],
    ordersLeft: [],
    finalLeft: [],
  },
  {
    should: 'leaves an idem entry that names another order (the key was used again after)',
    // Seeded in order: o2's HSET of the shared field comes last, so the field names o2.
    orders: { o1: ['u1', 'k', 'cancelled', 2 * MIN], o2: ['u1', 'k', 'reserved', null] },
    argv: [MIN, 10],
    replies: [[1, 0]],
    ordersLeft: ['o2'],
    idemLeft: [idemField('u1', 'k')],
    finalLeft: [],
  },
  {
    should:
      'finds the idem entry of an order whose user id holds separators and multi-byte characters',
    // o1's and o2's user id and key read the same run together: only the length tells them apart.
    orders: {
      o1: ['1', '2:x', 'cancelled', 2 * MIN],
      o2: ['12:', 'x', 'reserved', null],
      o3: ['😀,', ':k', 'expired', 2 * MIN],
    },
    argv: [MIN, 10],
    replies: [[2, 0]],
    ordersLeft: ['o2'],
    idemLeft: [idemField('12:', 'x')],
    finalLeft: [],
  },
  {
    should: 'never forgets a paid or reserved order listed by mistake, and unlists it',
    orders: { o1: ['u1', 'k1', 'paid', 2 * MIN], o2: ['u2', 'k2', 'reserved', 2 * MIN] },
    argv: [MIN, 10],
    replies: [[0, 0]],
    finalLeft: [],
  },
  {
    should: 'unlists an order the orders hash no longer has',
    orders: { o1: ['u1', '', 'cancelled', 2 * MIN] },
    argv: [0, 10],
    replies: [
      [1, 0],
      [0, 0],
    ],
    ordersLeft: [],
    finalLeft: [],
  },
  {
    should: 'with retention 0 forgets every listed final order',
    orders: { o1: ['u1', '', 'expired', 1] },
    argv: [0, 10],
    replies: [[1, 0]],
    ordersLeft: [],
    finalLeft: [],
  },
  ...(
    [
      ['a negative retention', [-1, 10]],
      ['a fractional retention', [1.5, 10]],
      ['a non-numeric retention', ['x', 10]],
      ['most of 0', [MIN, 0]],
      ['most above 1000', [MIN, 1001]],
      ['a missing argument', [MIN]],
      ['an extra argument', [MIN, 10, 1]],
    ] as const
  ).map(
    ([what, argv]): Row => ({
      should: `refuses ${what} with -6 and changes nothing`,
      orders: { o1: ['u1', 'k1', 'cancelled', 2 * MIN] },
      argv,
      replies: [[-6]],
    }),
  ),
]

for (const form of ORDER_FORMS)
  for (const row of rows) {
    t.test(withForm(row.should, form), async (t) => {
      const k = freshSale(t, redis)
      const now = await redisNowMs(redis)
      for (const [id, [userId, key, status, ago]] of Object.entries(row.orders)) {
        const o = {
          userId,
          quantity: 1,
          createdAt: now - 10 * MIN,
          expiresAt: now - 5 * MIN,
          idempotencyKey: key,
          status,
          paidAt: status === 'paid' ? now - 9 * MIN : null,
        }
        await redis.hset(k.orders, id, storedValue(o, form))
        if (key !== '') await redis.hset(k.idem, idemField(userId, key), id)
        if (ago !== null) await redis.zadd(k.final, now - ago, id)
      }
      const before = {
        orders: Object.keys(await redis.hgetall(k.orders)).sort(),
        idem: Object.keys(await redis.hgetall(k.idem)).sort(),
        final: (await redis.zrange(k.final, 0, -1)).sort(),
        keys: await keysUnder(redis, k.prefix),
      }

      for (const [c, reply] of row.replies.entries()) {
        t.same(
          await redis.pruneOrders(...PRUNE_ORDERS.keys(k), ...row.argv),
          reply,
          `call ${c + 1}: reply`,
        )
      }

      t.same(
        Object.keys(await redis.hgetall(k.orders)).sort(),
        [...(row.ordersLeft ?? before.orders)].sort(),
        'orders left',
      )
      t.same(
        Object.keys(await redis.hgetall(k.idem)).sort(),
        [...(row.idemLeft ?? before.idem)].sort(),
        'idempotency entries left',
      )
      t.same(
        (await redis.zrange(k.final, 0, -1)).sort(),
        [...(row.finalLeft ?? before.final)].sort(),
        'final zset left',
      )
      const allowed = new Set(before.keys)
      t.ok(
        (await keysUnder(redis, k.prefix)).every((key) => allowed.has(key)),
        'no key written outside the three',
      )
    })
  }

t.test(
  'stops with an error, having changed nothing, at a value that is not an order',
  async (t) => {
    const k = freshSale(t, redis)
    const now = await redisNowMs(redis)
    await redis.hset(k.orders, 'o1', 'c1,not an order')
    await redis.hset(k.idem, idemField('u1', 'k1'), 'o1')
    await redis.zadd(k.final, now - 2 * MIN, 'o1')
    const before = await dump(k)
    await t.rejects(
      redis.pruneOrders(...PRUNE_ORDERS.keys(k), MIN, 10),
      /order o1: its value in the orders hash is neither an order record nor JSON/,
    )
    t.same(await dump(k), before, 'orders, idem and final zset as before')
  },
)

async function dump(k: ReturnType<typeof freshSale>) {
  return {
    orders: await redis.hgetall(k.orders),
    idem: await redis.hgetall(k.idem),
    final: await redis.zrange(k.final, 0, -1, 'WITHSCORES'),
  }
}
