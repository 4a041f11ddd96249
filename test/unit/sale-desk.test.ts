import t from 'tap'
import type { Attempt, Outcome } from '../../src/purchase/attempt'
import { type DeskDeps, SaleDesk } from '../../src/purchase/sale-desk'
import type { SaleRecord } from '../../src/sale/sale-record'
import {
  decodeReserveReply,
  type RawReserveReply,
  type ReservedOrder,
  type ReserveResult,
} from '../../src/store/lua/reserve'

/**
 * SaleDesk against fake deps that record every call. The desk talks to the outside only through
 * DeskDeps, so the call logs are the whole of its observable behaviour.
 */

const OPEN: SaleRecord = {
  id: 's',
  name: 'Phone',
  stock: 100,
  sold: 0,
  perUserLimit: 5,
  startsAt: null,
  endsAt: null,
  paymentTtlSeconds: 300,
  started: true,
  closed: false,
  returned: 0,
  createdAt: 0,
}

type SettleCall = [orderId: string, outcome: Outcome, order: ReservedOrder | null, byRedis: boolean]
type NeedCall = [saleId: string, have: number, inflight: number, parked: number]

interface Harness {
  desk: SaleDesk
  settled: SettleCall[]
  enqueued: string[]
  needs: NeedCall[]
  soldOuts: string[]
  /** how many times the desk said the retry tick has work */
  readonly busy: number
  setNow(ms: number): void
}

const T0 = 1_700_000_000_000

function harness(
  record: Partial<SaleRecord> = {},
  opts: { lowWater?: number; parkMax?: number; parkTimeoutMs?: number } = {},
): Harness {
  const settled: SettleCall[] = []
  const enqueued: string[] = []
  const needs: NeedCall[] = []
  const soldOuts: string[] = []
  let now = T0
  const deps: DeskDeps = {
    lowWater: opts.lowWater ?? 10,
    parkMax: opts.parkMax ?? 100,
    parkTimeoutMs: opts.parkTimeoutMs ?? 5000,
    now: () => now,
    enqueue: (a) => enqueued.push(a.orderId),
    settle: (a, outcome, order, saleId, byRedis) => {
      if (saleId !== 's') throw new Error(`settled for sale ${saleId}`)
      settled.push([a.orderId, outcome, order, byRedis])
    },
    need: (saleId, have, inflight, parked) => needs.push([saleId, have, inflight, parked]),
    soldOut: (saleId) => soldOuts.push(saleId),
    // a test marks a client gone by setting its attempt's res to 'gone'
    gone: (a) => a.res === 'gone',
    busy: () => {
      busy++
    },
  }
  let busy = 0
  const desk = new SaleDesk({ ...OPEN, ...record }, deps)
  const h: Harness = {
    desk,
    get busy() {
      return busy
    },
    settled,
    enqueued,
    needs,
    soldOuts,
    setNow: (ms) => {
      now = ms
    },
  }
  return h
}

function attempt(orderId: string, quantity = 1): Attempt {
  return {
    res: null,
    compat: false,
    saleId: 's',
    userId: `u-${orderId}`,
    quantity,
    idemKey: '',
    orderId,
    parkedAt: 0,
  }
}

/** reserve-6.lua's reply, as its gateway decodes it. */
const reply = (raw: RawReserveReply): ReserveResult => decodeReserveReply(raw)

const won = (a: Attempt, remaining: number): ReserveResult =>
  reply([0, remaining, a.orderId, a.quantity, T0, T0 + 300_000])

t.test('refusal() names the gate, then sold out, and is null only for an open sale', async (t) => {
  t.equal(harness({ started: false }).desk.refusal(T0), 'not_started')
  t.equal(harness({ started: false, startsAt: T0 + 1 }).desk.refusal(T0), 'not_started')
  t.equal(harness({ started: false, startsAt: T0 }).desk.refusal(T0), null)
  t.equal(harness({ closed: true }).desk.refusal(T0), 'closed')
  t.equal(harness({ endsAt: T0 }).desk.refusal(T0), 'closed')
  t.equal(harness({ sold: 100 }).desk.refusal(T0), 'sold_out')
  t.equal(harness({ sold: 100, closed: true }).desk.refusal(T0), 'closed')
  t.equal(harness().desk.refusal(T0), null)
})

t.test('a new desk asks for quota once, with nothing held, before any buyer comes', async (t) => {
  const h = harness()
  t.strictSame(h.needs, [['s', 0, 0, 0]])
  // the answer has not come yet: buyers park and no second request goes out
  h.desk.admit(attempt('a1'))
  h.desk.admit(attempt('a2'))
  t.strictSame(h.needs, [['s', 0, 0, 0]])
  t.equal(h.desk.parkedCount, 2)
})

t.test('a desk for a sold-out or closed sale asks for no quota', async (t) => {
  t.strictSame(harness({ sold: 100 }).needs, [])
  t.strictSame(harness({ closed: true }).needs, [])
})

t.test('admit with enough quota enqueues at once and moves the units to inflight', async (t) => {
  const h = harness()
  h.desk.grant(20, false, 0)
  t.equal(h.desk.quota, 20)
  h.desk.admit(attempt('a1', 2))
  t.strictSame(h.enqueued, ['a1'])
  t.equal(h.desk.quota, 18)
  t.equal(h.desk.inflight, 2)
  t.equal(h.desk.parkedCount, 0)
  t.strictSame(h.settled, [])
  // still above the low-water mark (10): no request beyond the first
  t.strictSame(h.needs, [['s', 0, 0, 0]])
  for (const id of ['a2', 'a3', 'a4']) h.desk.admit(attempt(id, 2))
  t.equal(h.desk.quota, 12)
  t.strictSame(h.needs, [['s', 0, 0, 0]])
  // dropping below the mark asks for more, reporting what is held and in flight
  h.desk.admit(attempt('a5', 3))
  t.strictSame(h.enqueued, ['a1', 'a2', 'a3', 'a4', 'a5'])
  t.equal(h.desk.quota, 9)
  t.equal(h.desk.inflight, 11)
  t.strictSame(h.needs, [
    ['s', 0, 0, 0],
    ['s', 9, 11, 0],
  ])
})

t.test('admit without enough quota parks the attempt and asks for quota', async (t) => {
  const h = harness()
  h.desk.grant(1, false, 0)
  // an idle desk holding a little quota does not ask for more (it would pull from busy ones)
  t.strictSame(h.needs, [['s', 0, 0, 0]])
  h.setNow(T0 + 42)
  const a = attempt('a1', 2)
  h.desk.admit(a)
  t.strictSame(h.enqueued, [])
  t.equal(h.desk.parkedCount, 1)
  t.equal(a.parkedAt, T0 + 42)
  t.equal(h.desk.quota, 1)
  t.strictSame(h.needs, [
    ['s', 0, 0, 0],
    ['s', 1, 0, 1],
  ])
  t.strictSame(h.settled, [])
})

t.test('a grant sends parked attempts in FIFO order, as far as it reaches', async (t) => {
  const h = harness()
  for (const id of ['a1', 'a2', 'a3']) h.desk.admit(attempt(id))
  t.equal(h.desk.parkedCount, 3)
  h.desk.grant(2, false, 0)
  t.strictSame(h.enqueued, ['a1', 'a2'])
  t.equal(h.desk.parkedCount, 1)
  t.equal(h.desk.quota, 0)
  t.equal(h.desk.inflight, 2)
  // one buyer still waits: ask again at once
  t.strictSame(h.needs, [
    ['s', 0, 0, 0],
    ['s', 0, 2, 1],
  ])
  h.desk.grant(5, false, 0)
  t.strictSame(h.enqueued, ['a1', 'a2', 'a3'])
  t.equal(h.desk.parkedCount, 0)
  t.equal(h.desk.quota, 4)
  t.equal(h.desk.inflight, 3)
  t.strictSame(h.needs, [
    ['s', 0, 0, 0],
    ['s', 0, 2, 1],
    ['s', 4, 3, 0],
  ])
})

t.test('a parked attempt is never overtaken by a later, smaller one', async (t) => {
  const h = harness()
  h.desk.admit(attempt('big', 3))
  h.desk.grant(2, false, 0)
  h.desk.admit(attempt('small', 1))
  t.strictSame(h.enqueued, [])
  t.equal(h.desk.parkedCount, 2)
  h.desk.grant(2, false, 0)
  t.strictSame(h.enqueued, ['big', 'small'])
  t.equal(h.desk.quota, 0)
})

t.test('a new order consumes its quota; every other answer gives it back', async (t) => {
  const h = harness()
  h.desk.grant(50, false, 0)
  const a = [attempt('a1', 2), attempt('a2', 2), attempt('a3', 2), attempt('a4', 2)]
  for (const x of a) h.desk.admit(x)
  t.equal(h.desk.quota, 42)
  t.equal(h.desk.inflight, 8)

  const r1 = won(a[0]!, 90)
  h.desk.onReply(a[0]!, r1)
  t.equal(h.desk.quota, 42, 'reserved: the quota stays spent')
  t.equal(h.desk.inflight, 6)

  h.desk.onReply(a[1]!, reply([-2, 90]))
  t.equal(h.desk.quota, 44, 'limit_exceeded: the quantity comes back')
  t.equal(h.desk.inflight, 4)

  const r3 = reply([1, 90, 'original', 2, T0, T0 + 300_000])
  h.desk.onReply(a[2]!, r3)
  t.equal(h.desk.quota, 46, 'replayed: no new unit was sold, the quantity comes back')
  t.equal(h.desk.inflight, 2)

  h.desk.onReply(a[3]!, reply([-3, 90]))
  t.equal(h.desk.quota, 48, 'not_started: the quantity comes back')
  t.equal(h.desk.inflight, 0)

  t.strictSame(h.settled, [
    ['a1', 'reserved', r1.order, true],
    ['a2', 'limit_exceeded', null, true],
    ['a3', 'replayed', r3.order, true],
    ['a4', 'not_started', null, true],
  ])
  t.strictSame(h.soldOuts, [])
})

t.test(
  'a reply with nothing remaining marks sold out, refuses the parked and tells the primary once',
  async (t) => {
    const h = harness()
    h.desk.grant(4, false, 0)
    const a1 = attempt('a1', 2)
    const a2 = attempt('a2', 2)
    h.desk.admit(a1)
    h.desk.admit(a2)
    h.desk.admit(attempt('p1'))
    h.desk.admit(attempt('p2'))
    t.equal(h.desk.parkedCount, 2)
    const needsBefore = h.needs.length

    const r1 = won(a1, 0)
    h.desk.onReply(a1, r1)
    t.equal(h.desk.soldOut, true)
    t.equal(h.desk.quota, 0)
    t.equal(h.desk.parkedCount, 0)
    t.equal(h.desk.refusal(T0), 'sold_out')
    t.strictSame(h.soldOuts, ['s'])

    h.desk.onReply(a2, reply([-1, 0]))
    t.equal(h.desk.quota, 0, 'the unit given back is clamped to the nothing that remains')
    t.equal(h.desk.inflight, 0)
    t.strictSame(h.soldOuts, ['s'], 'the primary is told only once')
    t.strictSame(h.settled, [
      ['p1', 'sold_out', null, false],
      ['p2', 'sold_out', null, false],
      ['a1', 'reserved', r1.order, true],
      ['a2', 'sold_out', null, true],
    ])
    t.equal(h.needs.length, needsBefore, 'a sold-out desk asks for no quota')
    h.desk.retryNeed()
    t.equal(h.needs.length, needsBefore)
  },
)

t.test('an unanswered batch gives the quota back and settles with its code', async (t) => {
  const h = harness()
  h.desk.grant(20, false, 0)
  const a = attempt('a1', 3)
  h.desk.admit(a)
  t.equal(h.desk.quota, 17)
  h.desk.onFailure(a, 'unavailable')
  t.equal(h.desk.quota, 20)
  t.equal(h.desk.inflight, 0)
  const b = attempt('a2', 2)
  h.desk.admit(b)
  h.desk.onFailure(b, 'outcome_unknown')
  t.equal(h.desk.quota, 20, 'an unknown outcome gives the quota back too: Redis decides')
  t.strictSame(h.settled, [
    ['a1', 'unavailable', null, false],
    ['a2', 'outcome_unknown', null, false],
  ])
  t.equal(h.desk.soldOut, false)
})

t.test(
  'an attempt whose client is gone is withdrawn: its quota serves the next waiting buyer',
  async (t) => {
    const h = harness()
    h.desk.grant(1, false, 0)
    const a = attempt('a1')
    h.desk.admit(a)
    const b = attempt('b1')
    h.desk.admit(b)
    t.strictSame(h.enqueued, ['a1'], 'b1 waits for quota')
    t.equal(h.desk.withdraw(a), false, 'a live client is not withdrawn')
    a.res = 'gone'
    t.equal(h.desk.withdraw(a), true, 'a client that went away is')
    t.equal(h.desk.inflight, 1, 'b1 took the unit a1 gave back')
    t.strictSame(h.enqueued, ['a1', 'b1'])
    t.strictSame(h.settled, [], 'nobody is answered: a1 has no one to answer')
  },
)

t.test('beyond parkMax waiting attempts, a new one is refused with rate_limited', async (t) => {
  const h = harness({}, { parkMax: 2 })
  h.desk.admit(attempt('a1'))
  h.desk.admit(attempt('a2'))
  h.desk.admit(attempt('a3'))
  t.equal(h.desk.parkedCount, 2)
  t.strictSame(h.settled, [['a3', 'rate_limited', null, false]])
  h.desk.grant(5, false, 0)
  t.strictSame(h.enqueued, ['a1', 'a2'])
})

t.test('parkMax 0 refuses every attempt that would have to wait', async (t) => {
  const h = harness({}, { parkMax: 0 })
  h.desk.admit(attempt('a1'))
  t.strictSame(h.settled, [['a1', 'rate_limited', null, false]])
  h.desk.grant(1, false, 0)
  h.desk.admit(attempt('a2'))
  t.strictSame(h.enqueued, ['a2'])
})

t.test(
  'expireParked answers unavailable only the attempts that waited parkTimeoutMs',
  async (t) => {
    const h = harness({}, { parkTimeoutMs: 5000 })
    h.setNow(T0 + 1000)
    h.desk.admit(attempt('a1'))
    h.setNow(T0 + 3000)
    h.desk.admit(attempt('a2'))
    h.desk.admit(attempt('a3'))

    h.desk.expireParked(T0 + 5999)
    t.strictSame(h.settled, [], 'one ms short of the timeout: everyone still waits')
    t.equal(h.desk.parkedCount, 3)

    h.desk.expireParked(T0 + 6000)
    t.strictSame(h.settled, [['a1', 'unavailable', null, false]])
    t.equal(h.desk.parkedCount, 2)

    h.desk.expireParked(T0 + 7999)
    t.equal(h.desk.parkedCount, 2)
    h.desk.expireParked(T0 + 8000)
    t.strictSame(h.settled, [
      ['a1', 'unavailable', null, false],
      ['a2', 'unavailable', null, false],
      ['a3', 'unavailable', null, false],
    ])
    t.equal(h.desk.parkedCount, 0)
    t.strictSame(h.enqueued, [])
  },
)

t.test('release gives back at most the quota the desk holds', async (t) => {
  const h = harness()
  h.desk.grant(5, false, 0)
  t.equal(h.desk.release(3), 3)
  t.equal(h.desk.quota, 2)
  t.equal(h.desk.release(10), 2)
  t.equal(h.desk.quota, 0)
  t.equal(h.desk.release(1), 0)
  t.equal(h.desk.quota, 0)
})

t.test(
  'a desk that gave quota away asks for more only for buyers of its own, on the retry tick',
  async (t) => {
    const h = harness()
    h.desk.grant(1, false, 0)
    const asked = h.needs.length
    t.equal(h.desk.release(1), 1)
    h.desk.retryNeed()
    t.equal(h.needs.length, asked, 'idle with no quota: it does not pull the unit back')
    h.desk.admit(attempt('a1'))
    t.equal(h.needs.length, asked, 'a buyer waits: admit does not ask at once')
    h.desk.retryNeed()
    t.strictSame(h.needs.at(-1), ['s', 0, 0, 1], 'the tick asks, for the buyer who waits')
  },
)

t.test('a release of nothing changes nothing: the desk keeps asking as before', async (t) => {
  const h = harness()
  h.desk.grant(2, false, 0)
  h.desk.admit(attempt('a1'))
  h.desk.admit(attempt('a2'))
  const asked = h.needs.length
  t.equal(h.desk.release(1), 0)
  h.desk.onReply(attempt('a1'), reply([-2, 50]))
  t.equal(h.needs.length, asked, 'the answer itself does not ask')
  h.setNow(T0 + 1000)
  h.desk.retryNeed()
  t.ok(h.needs.length > asked, 'low on quota after buyers came, it asks on the tick')
})

t.test('release never touches the units in flight', async (t) => {
  const h = harness()
  h.desk.grant(5, false, 0)
  h.desk.admit(attempt('a1', 4))
  t.equal(h.desk.release(5), 1)
  t.equal(h.desk.quota, 0)
  t.equal(h.desk.inflight, 4)
})

t.test(
  'after an empty grant the desk asks again only on the retry tick, for waiting buyers',
  async (t) => {
    const h = harness()
    h.desk.grant(0, false, 0)
    t.strictSame(h.needs, [['s', 0, 0, 0]], 'an empty grant is not answered with another request')
    h.desk.retryNeed()
    t.strictSame(h.needs, [['s', 0, 0, 0]], 'nobody waits: the tick does not ask')

    h.desk.admit(attempt('a1'))
    h.desk.admit(attempt('a2'))
    t.equal(h.desk.parkedCount, 2)
    t.strictSame(h.needs, [['s', 0, 0, 0]], 'admit does not ask while starved')

    h.desk.retryNeed()
    t.strictSame(h.needs, [
      ['s', 0, 0, 0],
      ['s', 0, 0, 2],
    ])
    h.desk.retryNeed()
    t.equal(h.needs.length, 2, 'one request at a time')

    h.desk.grant(0, false, 0)
    h.desk.admit(attempt('a3'))
    t.equal(h.needs.length, 2)
    h.desk.retryNeed()
    t.strictSame(h.needs[2], ['s', 0, 0, 3])

    // a non-empty grant ends the starvation: the desk asks on its own again
    h.desk.grant(4, false, 0)
    t.strictSame(h.enqueued, ['a1', 'a2', 'a3'])
    t.strictSame(h.needs, [
      ['s', 0, 0, 0],
      ['s', 0, 0, 2],
      ['s', 0, 0, 3],
      ['s', 1, 3, 0],
    ])
  },
)

t.test(
  'a grant that says sold out marks the desk sold out without telling the primary back',
  async (t) => {
    const h = harness()
    h.desk.admit(attempt('a1'))
    h.desk.grant(0, true, 0)
    t.equal(h.desk.soldOut, true)
    t.strictSame(h.settled, [['a1', 'sold_out', null, false]])
    t.strictSame(h.soldOuts, [])
    t.equal(h.desk.refusal(T0), 'sold_out')
  },
)

t.test('an update with sold >= stock marks the desk sold out and refuses the parked', async (t) => {
  const h = harness()
  h.desk.grant(3, false, 0)
  h.desk.admit(attempt('a1', 3))
  h.desk.admit(attempt('p1'))
  const needsBefore = h.needs.length
  h.desk.update({ ...OPEN, sold: 100 })
  t.equal(h.desk.soldOut, true)
  t.equal(h.desk.quota, 0)
  t.equal(h.desk.refusal(T0), 'sold_out')
  t.strictSame(h.settled, [['p1', 'sold_out', null, false]])
  t.strictSame(h.soldOuts, [], 'the primary sent this copy: it knows')
  t.equal(h.needs.length, needsBefore)
})

t.test('a stale update does not clear sold out; a rise of returned does', async (t) => {
  const h = harness()
  h.desk.grant(1, false, 0)
  const a = attempt('a1')
  h.desk.admit(a)
  h.desk.onReply(a, won(a, 0))
  t.equal(h.desk.soldOut, true)
  // the request sent when a1 took the last unit is answered: nothing, sold out
  h.desk.grant(0, true, 0)
  const needsBefore = h.needs.length

  // the poll read the hash before the last sale: sold < stock, but nothing came back
  h.desk.update({ ...OPEN, sold: 99, returned: 0 })
  t.equal(h.desk.soldOut, true)
  t.equal(h.desk.refusal(T0), 'sold_out')
  t.equal(h.needs.length, needsBefore)

  // a cancelled order put a unit back on sale
  h.desk.update({ ...OPEN, sold: 99, returned: 1 })
  t.equal(h.desk.soldOut, false)
  t.equal(h.desk.refusal(T0), null)
  t.strictSame(h.needs.slice(needsBefore), [['s', 0, 0, 0]])

  // sold out again, then a stale copy that still shows returned = 1: stays sold out
  h.desk.update({ ...OPEN, sold: 100, returned: 1 })
  t.equal(h.desk.soldOut, true)
  h.desk.update({ ...OPEN, sold: 99, returned: 1 })
  t.equal(h.desk.soldOut, true)
})

t.test(
  'a sold-out grant or copy read before units came back does not mark the desk sold out',
  async (t) => {
    const h = harness({ sold: 99, returned: 0 })
    h.desk.grant(1, false, 0)
    const a = attempt('a1')
    h.desk.admit(a)
    h.desk.onReply(a, won(a, 0))
    t.equal(h.desk.soldOut, true, 'the last unit sold')
    // the buyer cancels: the unit comes back and the desk hears it (returned 1)
    h.desk.update({ ...OPEN, sold: 99, returned: 1 })
    t.equal(h.desk.soldOut, false, 'on sale again')
    // an answer to a quota request the lessor read before the cancel arrives only now
    h.desk.grant(0, true, 0)
    t.equal(h.desk.soldOut, false, 'a sold-out grant older than the return is ignored')
    t.equal(h.desk.refusal(T0), null)
    // so is a copy of the sale read before the cancel
    h.desk.update({ ...OPEN, sold: 100, returned: 0 })
    t.equal(h.desk.soldOut, false, 'a sold-out copy older than the return is ignored')
    // a sold-out read after the return still counts
    h.desk.grant(0, true, 1)
    t.equal(h.desk.soldOut, true, 'a sold-out grant as new as the return marks it')
  },
)

t.test('a stale update does not clear a sold out seen at construction', async (t) => {
  const h = harness({ sold: 100, returned: 2 })
  h.desk.update({ ...OPEN, sold: 98, returned: 2 })
  t.equal(h.desk.soldOut, true)
  h.desk.update({ ...OPEN, sold: 98, returned: 1 })
  t.equal(h.desk.soldOut, true, 'an older copy with a lower counter changes nothing')
  h.desk.update({ ...OPEN, sold: 98, returned: 3 })
  t.equal(h.desk.soldOut, false)
})

t.test('an update to a closed sale refuses the parked with closed and asks nothing', async (t) => {
  const h = harness()
  h.desk.admit(attempt('p1'))
  h.desk.admit(attempt('p2'))
  h.desk.grant(0, false, 0)
  h.desk.update({ ...OPEN, closed: true })
  t.strictSame(h.settled, [
    ['p1', 'closed', null, false],
    ['p2', 'closed', null, false],
  ])
  t.equal(h.desk.parkedCount, 0)
  t.equal(h.desk.refusal(T0), 'closed')
  h.desk.retryNeed()
  t.strictSame(h.needs, [['s', 0, 0, 0]])
})

t.test('an update past endsAt closes the desk by the clock', async (t) => {
  const h = harness({ endsAt: T0 + 1000 })
  h.desk.admit(attempt('p1'))
  h.setNow(T0 + 1000)
  h.desk.update({ ...OPEN, endsAt: T0 + 1000 })
  t.strictSame(h.settled, [['p1', 'closed', null, false]])
})

t.test('the quota never goes negative and is clamped to the remaining Redis reports', async (t) => {
  const h = harness()
  h.desk.grant(50, false, 0)
  const a1 = attempt('a1')
  const a2 = attempt('a2', 2)
  h.desk.admit(a1)
  h.desk.admit(a2)
  t.equal(h.desk.quota, 47)
  h.desk.onReply(a1, reply([-1, 3]))
  t.equal(h.desk.quota, 3, 'the given-back unit does not lift it above the 3 remaining')
  h.desk.onReply(a2, won(a2, 5))
  t.equal(h.desk.quota, 3, 'a larger remaining does not raise it')

  h.desk.admit(attempt('a3', 2))
  h.desk.admit(attempt('a4', 2))
  t.equal(h.desk.quota, 1)
  t.equal(h.desk.parkedCount, 1, 'not enough quota for a4: it waits')
  t.equal(h.desk.release(5), 1)
  t.equal(h.desk.quota, 0)
  t.equal(h.desk.release(5), 0)
  t.equal(h.desk.quota, 0)
  t.ok(h.desk.inflight >= 0)
})

t.test('a reply with a negative remaining leaves no negative quota', async (t) => {
  const h = harness()
  h.desk.grant(10, false, 0)
  const a = attempt('a1')
  h.desk.admit(a)
  // the stock was lowered below what is sold
  h.desk.onReply(a, reply([-1, -2]))
  t.equal(h.desk.quota, 0)
  t.equal(h.desk.soldOut, true)
  t.strictSame(h.soldOuts, ['s'])
})

t.test('refuseWaiting answers every parked attempt unavailable', async (t) => {
  const h = harness()
  h.desk.admit(attempt('p1'))
  h.desk.admit(attempt('p2'))
  h.desk.refuseWaiting()
  t.strictSame(h.settled, [
    ['p1', 'unavailable', null, false],
    ['p2', 'unavailable', null, false],
  ])
  t.equal(h.desk.parkedCount, 0)
})

t.test(
  'a batch that never reached Redis sends waiting buyers on with the quota it gives back',
  async (t) => {
    const h = harness()
    h.desk.grant(1, false, 0)
    const first = attempt('a1')
    h.desk.admit(first)
    h.desk.admit(attempt('a2'))
    t.same(h.enqueued, ['a1'], 'one unit of quota: the second waits')
    h.desk.onFailure(first, 'unavailable')
    t.same(h.settled, [['a1', 'unavailable', null, false]])
    t.same(h.enqueued, ['a1', 'a2'], 'the waiting buyer goes on at once')
    t.equal(h.desk.quota, 0)
    t.equal(h.desk.inflight, 1)
  },
)

t.test(
  'a quota request left unanswered for a second is sent again by the retry tick',
  async (t) => {
    const h = harness()
    t.equal(h.needs.length, 1, 'the first request, at construction')
    h.desk.admit(attempt('a1'))
    h.desk.retryNeed()
    t.equal(h.needs.length, 1, 'not again while it may still be answered')
    h.setNow(T0 + 999)
    h.desk.retryNeed()
    t.equal(h.needs.length, 1)
    h.setNow(T0 + 1000)
    h.desk.retryNeed()
    t.equal(h.needs.length, 2, 'sent again after a second')
    t.same(h.needs[1], ['s', 0, 0, 1], 'with the buyer who waits')
  },
)

t.test('the retry tick is wanted only while buyers wait or a quota request is out', async (t) => {
  const h = harness({}, { lowWater: 1 })
  t.equal(h.busy, 1, 'the first quota request wants the tick')
  t.ok(h.desk.waiting, 'waiting for the answer')
  h.desk.grant(10, false, 0)
  t.notOk(h.desk.waiting, 'answered, nobody parked: the tick has nothing to do here')
  for (let i = 0; i < 5; i++) h.desk.admit(attempt(`o${i}`))
  t.notOk(h.desk.waiting, 'five buyers sent on with quota, five units left above the low water')
  const busyBefore = h.busy
  for (let i = 5; i < 11; i++) h.desk.admit(attempt(`o${i}`))
  t.equal(h.desk.parkedCount, 1, 'the eleventh buyer parks')
  t.ok(h.desk.waiting, 'a quota request is out and a buyer waits')
  t.ok(h.busy > busyBefore, 'and the desk asked for the tick')

  const closed = harness({ closed: true })
  closed.setNow(T0 + 60_000)
  closed.desk.retryNeed()
  t.equal(closed.busy, 0, 'a closed sale never wants the tick')
  t.same(closed.needs, [], 'nor asks for quota')
})

t.test(
  'a top-up (stock and returned rise) clears sold out; a sold-out read before it is ignored',
  async (t) => {
    const h = harness({ stock: 10, sold: 9 })
    h.desk.grant(1, false, 0)
    const a = attempt('a1')
    h.desk.admit(a)
    const asked = h.needs.length
    t.ok(asked > 0, 'low on quota after a buyer came, the desk has a request out')
    h.desk.onReply(a, won(a, 0))
    t.equal(h.desk.soldOut, true, 'the last unit sold')

    // adjustStock-1.lua added 100 units: stock 110, returned raised by as much
    h.desk.update({ ...OPEN, stock: 110, sold: 10, returned: 100 })
    t.equal(h.desk.soldOut, false, 'on sale again')
    t.equal(h.desk.refusal(T0), null)

    // the answer to the request out, read by the lessor before the top-up, and an old copy
    h.desk.grant(0, true, 0)
    t.equal(h.desk.soldOut, false, 'a sold-out grant older than the top-up is ignored')
    h.desk.update({ ...OPEN, stock: 10, sold: 10, returned: 0 })
    t.equal(h.desk.soldOut, false, 'so is a sold-out copy older than the top-up')

    // a buyer waits for quota and gets it on the retry tick
    h.desk.admit(attempt('b1'))
    t.equal(h.desk.parkedCount, 1)
    h.desk.retryNeed()
    t.strictSame(h.needs.slice(asked), [['s', 0, 0, 1]], 'the tick asks for the waiting buyer')
    h.desk.grant(5, false, 100)
    t.strictSame(h.enqueued, ['a1', 'b1'], 'and the buyer is sent to Redis with the new quota')
  },
)

t.test(
  'a remove down to what is sold marks the desk sold out; a later top-up clears it',
  async (t) => {
    const h = harness({ stock: 10, sold: 4, returned: 2 })
    h.desk.grant(6, false, 2)
    t.equal(h.desk.soldOut, false)
    // adjustStock-1.lua removed the 6 unsold units: returned does not move
    h.desk.update({ ...OPEN, stock: 4, sold: 4, returned: 2 })
    t.equal(h.desk.soldOut, true, 'a copy as new as what was seen marks it')
    t.equal(h.desk.quota, 0, 'and drops the quota it held')
    h.desk.update({ ...OPEN, stock: 7, sold: 4, returned: 5 })
    t.equal(h.desk.soldOut, false, '3 units added: on sale again')
  },
)

t.test(
  'buyers parked after an empty grant get quota asked for at once when units come on sale',
  async (t) => {
    const h = harness({ stock: 10, sold: 0 })
    h.desk.grant(0, false, 0)
    h.desk.admit(attempt('p1'))
    const asked = h.needs.length
    t.equal(h.desk.parkedCount, 1, 'the buyer waits: every unit is held elsewhere')
    h.desk.update({ ...OPEN, stock: 20, sold: 10, returned: 10 })
    t.strictSame(h.needs.slice(asked), [['s', 0, 0, 1]], 'the top-up asks without the tick')
    h.desk.grant(3, false, 10)
    t.strictSame(h.enqueued, ['p1'], 'and the parked buyer goes on')
  },
)
