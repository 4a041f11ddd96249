import t from 'tap'
import { CREATE_SALE } from '../../src/store/lua/create-sale'
import {
  freshSale,
  keysUnder,
  openRedis,
  recordBell,
  redisNowMs,
  type SaleHash,
  seedSale,
  snapshot,
} from '../helpers/redis'

/** Contract of native-lua/createSale-1.lua: KEYS[1] the sale hash; ARGV name, stock,
 * perUserLimit, startsAt, endsAt, paymentTtlSeconds, the sale's bell channel. */

const redis = openRedis(t)

interface Args {
  name: string
  stock: string | number
  perUserLimit: string | number
  startsAt: string | number
  endsAt: string | number
  ttl: string | number
}

const VALID: Args = {
  name: 'Phone',
  stock: 10,
  perUserLimit: 2,
  startsAt: '',
  endsAt: '',
  ttl: 300,
}

function argv(over: Partial<Args> = {}): (string | number)[] {
  const a = { ...VALID, ...over }
  return [a.name, a.stock, a.perUserLimit, a.startsAt, a.endsAt, a.ttl]
}

/** The hash a valid call writes; createdAt comes from Redis TIME and is checked separately. */
function created(over: Partial<SaleHash> = {}): Omit<SaleHash, 'createdAt'> {
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
    ...over,
  }
}

/** An existing sale that differs from VALID in every field, so an overwrite would show. */
const EXISTING: Partial<SaleHash> = {
  name: 'Old',
  stock: '5',
  sold: '3',
  perUserLimit: '1',
  startsAt: '1000',
  endsAt: '2000',
  ttl: '60',
  started: '1',
  closed: '1',
  createdAt: '999',
}

interface Row {
  /** The test name: a sentence about behaviour. */
  readonly should: string
  /** The sale hash before the call; null: no sale. */
  readonly before: Partial<SaleHash> | null
  readonly argv: (string | number)[]
  readonly reply: [number, string?]
  /** 'unchanged': every key under the prefix is as before; otherwise the new sale hash. */
  readonly after: 'unchanged' | Omit<SaleHash, 'createdAt'>
}

/** A window an hour from now (createSale accepts any times; only endsAt > startsAt matters). */
const T1 = Date.now() + 3_600_000
const T2 = T1 + 3_600_000

const rows: Row[] = [
  {
    should: 'creates a sale with no window, not started and not closed, with nothing sold',
    before: null,
    argv: argv(),
    reply: [1],
    after: created(),
  },
  {
    should: 'creates a sale with a window, storing startsAt and endsAt as given',
    before: null,
    argv: argv({ startsAt: T1, endsAt: T2 }),
    reply: [1],
    after: created({ startsAt: String(T1), endsAt: String(T2) }),
  },
  {
    should: 'creates a sale with only an end, or only a start',
    before: null,
    argv: argv({ startsAt: '', endsAt: T2 }),
    reply: [1],
    after: created({ endsAt: String(T2) }),
  },
  {
    should: 'accepts every upper bound: a 200-byte name, 10^9 units and per user, a 30-day ttl',
    before: null,
    argv: argv({ name: 'n'.repeat(200), stock: 1e9, perUserLimit: 1e9, ttl: 2592000 }),
    reply: [1],
    after: created({
      name: 'n'.repeat(200),
      stock: '1000000000',
      perUserLimit: '1000000000',
      ttl: '2592000',
    }),
  },
  {
    should: 'accepts every lower bound: a 1-byte name, 1 unit, 1 per user, a 1-second ttl, time 0',
    before: null,
    argv: argv({ name: 'n', stock: 1, perUserLimit: 1, startsAt: 0, endsAt: 1, ttl: 1 }),
    reply: [1],
    after: created({
      name: 'n',
      stock: '1',
      perUserLimit: '1',
      startsAt: '0',
      endsAt: '1',
      ttl: '1',
    }),
  },
  {
    should: 'answers -1 and changes nothing when a sale with this id exists',
    before: EXISTING,
    argv: argv(),
    reply: [-1],
    after: 'unchanged',
  },
  ...invalidRows(),
  {
    should: 'validates the arguments before looking for an existing sale',
    before: EXISTING,
    argv: argv({ stock: 0 }),
    reply: [-6, 'stock'],
    after: 'unchanged',
  },
]

/** Each invalid argument alone, on no sale: {-6, field} and no key written. */
function invalidRows(): Row[] {
  const cases: [string, Partial<Args>, string][] = [
    ['an empty name', { name: '' }, 'name'],
    ['a name over 200 bytes', { name: 'n'.repeat(201) }, 'name'],
    ['a name of 67 three-byte characters (201 bytes)', { name: '売'.repeat(67) }, 'name'],
    ['a stock of 0', { stock: 0 }, 'stock'],
    ['a stock of -1', { stock: -1 }, 'stock'],
    ['a fractional stock (1.5)', { stock: '1.5' }, 'stock'],
    ['a stock that is not a number (abc)', { stock: 'abc' }, 'stock'],
    ['an empty stock', { stock: '' }, 'stock'],
    ['a stock of 10^9 + 1', { stock: 1e9 + 1 }, 'stock'],
    ['a stock of inf', { stock: 'inf' }, 'stock'],
    ['a stock of nan', { stock: 'nan' }, 'stock'],
    ['a perUserLimit of 0', { perUserLimit: 0 }, 'perUserLimit'],
    ['a fractional perUserLimit', { perUserLimit: '0.5' }, 'perUserLimit'],
    ['a perUserLimit that is not a number', { perUserLimit: 'x' }, 'perUserLimit'],
    ['a startsAt that is not a number (x)', { startsAt: 'x' }, 'startsAt'],
    ['a negative startsAt', { startsAt: -1 }, 'startsAt'],
    ['a fractional startsAt', { startsAt: '1.5' }, 'startsAt'],
    ['an endsAt that is not a number', { endsAt: 'x' }, 'endsAt'],
    ['an endsAt equal to startsAt', { startsAt: T1, endsAt: T1 }, 'endsAt'],
    ['an endsAt before startsAt', { startsAt: T2, endsAt: T1 }, 'endsAt'],
    ['a ttl of 0', { ttl: 0 }, 'paymentTtlSeconds'],
    ['a ttl over 30 days', { ttl: 2592001 }, 'paymentTtlSeconds'],
    ['a ttl that is not a number', { ttl: 'abc' }, 'paymentTtlSeconds'],
    ['an empty ttl', { ttl: '' }, 'paymentTtlSeconds'],
  ]
  return cases.map(([what, over, field]) => ({
    should: `answers {-6, '${field}'} and writes nothing for ${what}`,
    before: null,
    argv: argv(over),
    reply: [-6, field],
    after: 'unchanged',
  }))
}

for (const row of rows) {
  t.test(row.should, async (t) => {
    const k = freshSale(t, redis)
    const bell = await recordBell(t, k.bell)
    if (row.before) await seedSale(redis, k.sale, row.before)
    const before = await snapshot(redis, k)

    const t0 = await redisNowMs(redis)
    const reply = await redis.createSale(...CREATE_SALE.keys(k), ...row.argv, k.bell)
    const t1 = await redisNowMs(redis)

    t.same(reply, row.reply, 'reply')
    t.same(
      await bell.take(),
      row.reply[0] === 1 ? ['sale'] : [],
      'the bell rang ("sale") only when the sale was created',
    )
    const after = await snapshot(redis, k)
    if (row.after === 'unchanged') {
      t.same(after, before, 'every key under the prefix is as before')
      return
    }
    const { createdAt, ...rest } = after.sale
    t.same(rest, row.after, 'sale hash')
    const at = Number(createdAt)
    t.ok(Number.isInteger(at) && at >= t0 && at <= t1, `createdAt ${createdAt} is Redis TIME in ms`)
    t.same(await keysUnder(redis, k.prefix), [k.sale], 'the sale hash is the only key written')
  })
}

t.test('a second create of the same id answers -1 and keeps the first sale', async (t) => {
  const k = freshSale(t, redis)
  t.same(await redis.createSale(...CREATE_SALE.keys(k), ...argv(), k.bell), [1])
  const first = await snapshot(redis, k)
  t.same(
    await redis.createSale(...CREATE_SALE.keys(k), ...argv({ name: 'Other', stock: 99 }), k.bell),
    [-1],
  )
  t.same(await snapshot(redis, k), first, 'the first sale is untouched')
})
