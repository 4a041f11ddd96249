import t from 'tap'
import { SET_SALE_STATE } from '../../src/store/lua/set-sale-state'
import {
  freshSale,
  openRedis,
  recordBell,
  type SaleHash,
  seedSale,
  snapshot,
} from '../helpers/redis'

/** Contract of native-lua/setSaleState-1.lua: KEYS[1] the sale hash; ARGV[1] "start" or "close". */

const redis = openRedis(t)

const HOUR = 3_600_000
// Redis runs on this host, so its TIME and Date.now() agree far within the hour of margin.
const PAST = String(Date.now() - HOUR)
const FUTURE = String(Date.now() + HOUR)

/** A scheduled sale: created, neither started nor closed. */
const SCHEDULED: Partial<SaleHash> = { started: '0', closed: '0' }

interface Row {
  /** The test name: a sentence about behaviour. */
  readonly should: string
  /** The sale hash before; null: no sale. */
  readonly before: Partial<SaleHash> | null
  /** Calls in order, each [ARGV..., expected reply]. */
  readonly calls: readonly (readonly [action: string[], reply: number])[]
  /** The fields that differ from `before` afterwards ({} : the hash is unchanged). */
  readonly changed: Partial<SaleHash>
}

const rows: Row[] = [
  {
    should: 'start sets started to 1',
    before: SCHEDULED,
    calls: [[['start'], 0]],
    changed: { started: '1' },
  },
  {
    should: 'start twice is idempotent: both answer 0 and the sale stays started',
    before: SCHEDULED,
    calls: [
      [['start'], 0],
      [['start'], 0],
    ],
    changed: { started: '1' },
  },
  {
    should: 'start on a sale already started answers 0 and changes nothing',
    before: { started: '1', closed: '0' },
    calls: [[['start'], 0]],
    changed: {},
  },
  {
    should: 'start before a future endsAt starts the sale',
    before: { ...SCHEDULED, startsAt: FUTURE, endsAt: String(Number(FUTURE) + HOUR) },
    calls: [[['start'], 0]],
    changed: { started: '1' },
  },
  {
    should: 'close sets closed to 1 and leaves started as it was',
    before: { started: '1', closed: '0' },
    calls: [[['close'], 0]],
    changed: { closed: '1' },
  },
  {
    should: 'close on a sale never started closes it',
    before: SCHEDULED,
    calls: [[['close'], 0]],
    changed: { closed: '1' },
  },
  {
    should: 'close twice is idempotent: both answer 0 and the sale stays closed',
    before: { started: '1', closed: '0' },
    calls: [
      [['close'], 0],
      [['close'], 0],
    ],
    changed: { closed: '1' },
  },
  {
    should: 'close after endsAt has passed still marks the sale closed',
    before: { started: '1', closed: '0', endsAt: PAST },
    calls: [[['close'], 0]],
    changed: { closed: '1' },
  },
  {
    should: 'start after close answers -4: a closed sale never reopens',
    before: SCHEDULED,
    calls: [
      [['close'], 0],
      [['start'], -4],
    ],
    changed: { closed: '1' },
  },
  {
    should: 'start on a closed sale answers -4 and changes nothing',
    before: { ...SCHEDULED, closed: '1' },
    calls: [[['start'], -4]],
    changed: {},
  },
  {
    should: 'start after endsAt has passed answers -4 and changes nothing',
    before: { ...SCHEDULED, startsAt: String(Number(PAST) - HOUR), endsAt: PAST },
    calls: [[['start'], -4]],
    changed: {},
  },
  {
    should: 'an action other than start or close answers -6 and changes nothing',
    before: SCHEDULED,
    calls: [
      [['open'], -6],
      [['START'], -6],
      [[''], -6],
      [[], -6],
    ],
    changed: {},
  },
  {
    should: 'start on a missing sale answers -5 and creates nothing',
    before: null,
    calls: [[['start'], -5]],
    changed: {},
  },
  {
    should: 'close on a missing sale answers -5 and creates nothing',
    before: null,
    calls: [[['close'], -5]],
    changed: {},
  },
  {
    should: 'a bad action on a missing sale answers -6 and creates nothing',
    before: null,
    calls: [[['reopen'], -6]],
    changed: {},
  },
]

for (const row of rows) {
  t.test(row.should, async (t) => {
    const k = freshSale(t, redis)
    const bell = await recordBell(t, k.bell)
    const seeded = row.before ? await seedSale(redis, k.sale, row.before) : null
    const before = await snapshot(redis, k)

    for (const [argv, reply] of row.calls) {
      t.equal(
        await redis.setSaleState(...SET_SALE_STATE.keys(k), ...argv, k.bell),
        reply,
        `${JSON.stringify(argv)} answers ${reply}`,
      )
      t.same(
        await bell.take(),
        reply === 0 ? ['sale'] : [],
        `${JSON.stringify(argv)}: the bell rang ("sale") only when it was done`,
      )
    }

    const after = await snapshot(redis, k)
    t.same(after.sale, seeded ? { ...seeded, ...row.changed } : {}, 'sale hash')
    t.same({ ...after, sale: null }, { ...before, sale: null }, 'no other key is written')
  })
}
