import t from 'tap'
import { ADJUST_STOCK } from '../../src/store/lua/adjust-stock'
import { DEFAULT_SALE, freshSale, openRedis, recordBell, snapshot } from '../helpers/redis'

/**
 * Contract of native-lua/adjustStock-1.lua: KEYS[1] the sale hash; ARGV action ("add" or
 * "remove"), units, the sale's bell channel.
 */

const redis = openRedis(t)

const HOUR = 3_600_000
// Redis runs on this host, so its TIME and Date.now() agree far within the hour of margin.
const PAST = String(Date.now() - HOUR)
const FUTURE = String(Date.now() + HOUR)

/** A started sale of 10 units with 6 sold and 2 units returned earlier (a cancel, an expiry). */
const SELLING: Record<string, string> = { ...DEFAULT_SALE, stock: '10', sold: '6', returned: '2' }

/** A sale restoreSale-6.lua has begun and not finished: its stock is still in restoreStock. */
const RESTORING: Record<string, string> = {
  name: 'Phone',
  restoreStock: '10',
  sold: '3',
  perUserLimit: '2',
  startsAt: '',
  endsAt: '',
  ttl: '300',
  started: '0',
  closed: '0',
  createdAt: '1700000000000',
  returned: '0',
  restoredBy: 'run-1',
}

type Reply = (number | string)[]

interface Row {
  /** The test name: a sentence about behaviour. */
  readonly should: string
  /** The sale hash before; null: no sale. */
  readonly before: Record<string, string> | null
  /** Calls in order: ARGV (without the bell) and the expected reply. */
  readonly calls: readonly { argv: string[]; reply: Reply }[]
  /** The fields that differ from `before` afterwards ({}: the hash is unchanged). */
  readonly changed: Record<string, string>
}

const rows: Row[] = [
  {
    should: 'add raises stock and returned by the units added, sold untouched',
    before: SELLING,
    calls: [{ argv: ['add', '100'], reply: [0, 110, 6] }],
    changed: { stock: '110', returned: '102' },
  },
  {
    should: 'add to a sale that has no returned counter yet starts it at the units added',
    before: { ...DEFAULT_SALE, stock: '5', sold: '5' },
    calls: [{ argv: ['add', '3'], reply: [0, 8, 5] }],
    changed: { stock: '8', returned: '3' },
  },
  {
    should: 'add to a scheduled sale (not started yet) is allowed',
    before: { ...SELLING, started: '0', startsAt: FUTURE },
    calls: [{ argv: ['add', '1'], reply: [0, 11, 6] }],
    changed: { stock: '11', returned: '3' },
  },
  {
    should: 'remove lowers stock and leaves returned and sold alone',
    before: SELLING,
    calls: [{ argv: ['remove', '3'], reply: [0, 7, 6] }],
    changed: { stock: '7' },
  },
  {
    should: 'remove down to exactly sold is allowed: the sale is then sold out',
    before: SELLING,
    calls: [{ argv: ['remove', '4'], reply: [0, 6, 6] }],
    changed: { stock: '6' },
  },
  {
    should: 'remove beyond the units neither sold nor in flight answers -12 with how many may go',
    before: SELLING,
    calls: [{ argv: ['remove', '5'], reply: [-12, 4] }],
    changed: {},
  },
  {
    should: 'remove on a sold-out sale answers -12 with 0 removable',
    before: { ...SELLING, sold: '10' },
    calls: [{ argv: ['remove', '1'], reply: [-12, 0] }],
    changed: {},
  },
  {
    should: 'remove on a sale whose sold passed its stock answers -12 with 0, never negative',
    before: { ...SELLING, sold: '12' },
    calls: [{ argv: ['remove', '1'], reply: [-12, 0] }],
    changed: {},
  },
  {
    should: 'add then remove in turn each see the stock the other left',
    before: SELLING,
    calls: [
      { argv: ['add', '10'], reply: [0, 20, 6] },
      { argv: ['remove', '14'], reply: [0, 6, 6] },
      { argv: ['remove', '1'], reply: [-12, 0] },
    ],
    changed: { stock: '6', returned: '12' },
  },
  {
    should: 'add up to exactly 10^9 is allowed',
    before: { ...SELLING, stock: '999999990' },
    calls: [{ argv: ['add', '10'], reply: [0, 1e9, 6] }],
    changed: { stock: '1000000000', returned: '12' },
  },
  {
    should: 'add past 10^9 answers -13 with how many may still be added',
    before: { ...SELLING, stock: '999999990' },
    calls: [{ argv: ['add', '11'], reply: [-13, 10] }],
    changed: {},
  },
  {
    should: 'add on a closed sale answers -4 and changes nothing',
    before: { ...SELLING, closed: '1' },
    calls: [
      { argv: ['add', '5'], reply: [-4] },
      { argv: ['remove', '1'], reply: [-4] },
    ],
    changed: {},
  },
  {
    should: 'a sale past its endsAt is closed: -4 and nothing changed',
    before: { ...SELLING, startsAt: String(Number(PAST) - HOUR), endsAt: PAST },
    calls: [{ argv: ['add', '5'], reply: [-4] }],
    changed: {},
  },
  {
    should: 'a sale whose endsAt is still ahead may be changed',
    before: { ...SELLING, endsAt: FUTURE },
    calls: [{ argv: ['add', '5'], reply: [0, 15, 6] }],
    changed: { stock: '15', returned: '7' },
  },
  {
    should: 'a sale being restored answers -11 and gets no stock field',
    before: RESTORING,
    calls: [
      { argv: ['add', '5'], reply: [-11] },
      { argv: ['remove', '1'], reply: [-11] },
    ],
    changed: {},
  },
  {
    should: 'a missing sale answers -5 and nothing is created',
    before: null,
    calls: [
      { argv: ['add', '5'], reply: [-5] },
      { argv: ['remove', '5'], reply: [-5] },
    ],
    changed: {},
  },
  {
    should: 'an action other than add or remove answers -6 naming it',
    before: SELLING,
    calls: [
      { argv: ['set', '5'], reply: [-6, 'action'] },
      { argv: ['ADD', '5'], reply: [-6, 'action'] },
      { argv: ['', '5'], reply: [-6, 'action'] },
    ],
    changed: {},
  },
  {
    should: 'units that are not a whole number 1..10^9 in digits answer -6 naming them',
    before: SELLING,
    calls: [
      { argv: ['add', '0'], reply: [-6, 'units'] },
      { argv: ['add', '-1'], reply: [-6, 'units'] },
      { argv: ['add', '1.5'], reply: [-6, 'units'] },
      { argv: ['add', '1e3'], reply: [-6, 'units'] },
      { argv: ['add', '0x10'], reply: [-6, 'units'] },
      { argv: ['add', ' 5'], reply: [-6, 'units'] },
      { argv: ['add', '05'], reply: [-6, 'units'] },
      { argv: ['add', ''], reply: [-6, 'units'] },
      { argv: ['remove', '1000000001'], reply: [-6, 'units'] },
      { argv: ['add', '99999999999'], reply: [-6, 'units'] },
    ],
    changed: {},
  },
  {
    should: 'a call with the wrong number of arguments answers -6 naming ARGV',
    before: SELLING,
    calls: [
      { argv: ['add'], reply: [-6, 'ARGV'] },
      { argv: ['add', '5', 'extra'], reply: [-6, 'ARGV'] },
    ],
    changed: {},
  },
  {
    should: 'bad arguments on a missing sale answer -6 and create nothing',
    before: null,
    calls: [{ argv: ['add', 'x'], reply: [-6, 'units'] }],
    changed: {},
  },
]

for (const row of rows) {
  t.test(row.should, async (t) => {
    const k = freshSale(t, redis)
    const bell = await recordBell(t, k.bell)
    if (row.before) await redis.hset(k.sale, row.before)
    const before = await snapshot(redis, k)

    for (const { argv, reply } of row.calls) {
      t.same(
        await redis.adjustStock(...ADJUST_STOCK.keys(k), ...argv, k.bell),
        reply,
        `${JSON.stringify(argv)} answers ${JSON.stringify(reply)}`,
      )
      t.same(
        await bell.take(),
        reply[0] === 0 ? ['sale'] : [],
        `${JSON.stringify(argv)}: the bell rang ("sale") only when the stock changed`,
      )
    }

    const after = await snapshot(redis, k)
    t.same(after.sale, row.before ? { ...row.before, ...row.changed } : {}, 'sale hash')
    t.same({ ...after, sale: null }, { ...before, sale: null }, 'no other key is written')
  })
}
