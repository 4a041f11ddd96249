import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { decodeStoredOrder } from '../../src/orders/order-record'
import { saleKeys } from '../../src/store/keys'
import { redisOffsetMs as clockOffset } from '../../src/store/redis-time'
import { pool, type Reply } from '../helpers/http'
import { oldOrderJson } from '../helpers/orders'
import { type OrderRow, ordersOf, waitFor } from '../helpers/pg'
import { type Server, type StartOptions, startServer } from '../helpers/server'

/**
 * An order after its 201: pay, cancel, expiry, and the races between them (API.md "Orders";
 * DESIGN.md I1, I3, I7). Black box against the real server, Redis and PostgreSQL; Redis and
 * PostgreSQL are read directly to check what the answers claim.
 */

const ORDER_FIELDS = [
  'createdAt',
  'expiresAt',
  'orderId',
  'paidAt',
  'quantity',
  'saleId',
  'status',
  'userId',
]

/** The server, whose log is shown when the test fails (what a flaky run looked like inside). */
async function serve(t: Test, opts: StartOptions): Promise<Server> {
  const srv = await startServer(t, opts)
  t.teardown(() => {
    if (!t.passing()) t.comment(`server output:\n${srv.output()}`)
  })
  return srv
}

function buy(srv: Server, saleId: string, userId: string, quantity?: number): Promise<Reply> {
  return srv.http.request('POST', `/api/v1/sales/${saleId}/orders`, { userId, quantity })
}

function act(srv: Server, orderId: string, action: 'pay' | 'cancel'): Promise<Reply> {
  return srv.http.request('POST', `/api/v1/orders/${orderId}/${action}`)
}

function getOrder(srv: Server, orderId: string): Promise<Reply> {
  return srv.http.request('GET', `/api/v1/orders/${orderId}`)
}

async function remaining(srv: Server, saleId: string): Promise<number> {
  const r = await srv.http.request('GET', `/api/v1/sales/${saleId}`)
  return r.json.remaining
}

/** Redis TIME minus the local clock, in ms (deadlines are on Redis's clock). */
const redisOffsetMs = (srv: Server) => clockOffset(srv.redis)

/** Entries ever appended to the sale's order stream (XDEL does not lower it). */
async function entriesAdded(srv: Server, saleId: string): Promise<number> {
  const info = (await srv.redis.xinfo('STREAM', saleKeys(srv.prefix, saleId).stream)) as unknown[]
  return Number(info[info.indexOf('entries-added') + 1])
}

async function returnedUnits(srv: Server, saleId: string): Promise<number> {
  return Number((await srv.redis.hget(saleKeys(srv.prefix, saleId).sale, 'returned')) ?? 0)
}

function liveUnits(rows: readonly OrderRow[]): number {
  return rows
    .filter((r) => r.status === 'reserved' || r.status === 'paid')
    .reduce((n, r) => n + r.quantity, 0)
}

/** The writer has caught up: the stream is drained and PostgreSQL holds `n` rows, none reserved. */
async function atRest(srv: Server, saleId: string, n: number): Promise<OrderRow[]> {
  let rows: OrderRow[] = []
  await waitFor(`${n} final orders of ${saleId} in PostgreSQL and an empty stream`, async () => {
    rows = await ordersOf(srv.pg.pool, saleId)
    const st = await srv.state(saleId)
    return st.streamLength === 0 && rows.length === n && rows.every((r) => r.status !== 'reserved')
  })
  return rows
}

t.test(
  'a paid order answers paid with paidAt, pays again idempotently, refuses a cancel, and reaches PostgreSQL as paid',
  async (t) => {
    const srv = await serve(t, { workers: 2 })
    await srv.sale('payday', { stock: 10, perUserLimit: 1 })

    const bought = await buy(srv, 'payday', 'alice')
    t.equal(bought.status, 201)
    const id: string = bought.json.orderId

    const paid = await act(srv, id, 'pay')
    t.equal(paid.status, 200, 'pay answers 200')
    t.same(Object.keys(paid.json).sort(), ORDER_FIELDS, 'the answer is the order, API.md fields')
    t.match(paid.json, {
      orderId: id,
      saleId: 'payday',
      userId: 'alice',
      quantity: 1,
      status: 'paid',
      expiresAt: bought.json.expiresAt,
    })
    const paidAt = Date.parse(paid.json.paidAt)
    t.ok(
      paidAt >= Date.parse(paid.json.createdAt) && paidAt < Date.parse(paid.json.expiresAt),
      `paidAt ${paid.json.paidAt} is set, after creation and before the deadline`,
    )

    const again = await act(srv, id, 'pay')
    t.equal(again.status, 200, 'a second pay answers 200')
    t.equal(again.text, paid.text, 'with the same body: nothing changed')

    const cancel = await act(srv, id, 'cancel')
    t.equal(cancel.status, 409, 'cancel of a paid order answers 409')
    t.same(Object.keys(cancel.json).sort(), ['detail', 'error'])
    t.equal(cancel.json.error, 'paid')

    const got = await getOrder(srv, id)
    t.equal(got.status, 200)
    t.match(got.json, { status: 'paid', paidAt: paid.json.paidAt }, 'GET shows it paid')

    let row: OrderRow | undefined
    await waitFor('the paid order in PostgreSQL', async () => {
      row = (await ordersOf(srv.pg.pool, 'payday'))[0]
      return row?.status === 'paid'
    })
    t.equal(row?.order_id, id, 'PostgreSQL holds the order')
    t.equal(row?.paid_at?.getTime(), paidAt, 'with the paid_at the client was told')
    const fromPg = await getOrder(srv, id)
    t.equal(fromPg.text, paid.text, 'GET answers from the PostgreSQL row with the same body')

    const st = await srv.state('payday')
    t.equal(st.sold, 1, 'a paid order keeps its unit')
    t.same(st.users, { alice: '1' })
    t.equal(await returnedUnits(srv, 'payday'), 0, 'nothing was returned to stock')
    const more = await buy(srv, 'payday', 'alice')
    t.equal(more.status, 409, 'the payer is at the per-user limit (I3 counts paid orders)')
    t.equal(more.json.error, 'limit_exceeded')
  },
)

t.test(
  'a cancelled order returns its unit: another user buys it, pay is refused, the canceller may buy again',
  async (t) => {
    const srv = await serve(t, { workers: 2 })
    await srv.sale('undo', { stock: 1, perUserLimit: 1 })

    const first = await buy(srv, 'undo', 'u1')
    t.equal(first.status, 201, 'u1 buys the only unit')
    const id: string = first.json.orderId
    const late = await buy(srv, 'undo', 'u2')
    t.equal(late.json?.error, 'sold_out', 'the sale is sold out')

    const cancelled = await act(srv, id, 'cancel')
    t.equal(cancelled.status, 200, 'cancel answers 200')
    t.same(Object.keys(cancelled.json).sort(), ORDER_FIELDS)
    t.match(cancelled.json, { orderId: id, userId: 'u1', status: 'cancelled', paidAt: null })
    const again = await act(srv, id, 'cancel')
    t.equal(again.status, 200, 'a second cancel answers 200')
    t.equal(again.text, cancelled.text, 'with the same body')

    t.equal(await remaining(srv, 'undo'), 1, "the sale's GET shows the unit back")
    const second = await buy(srv, 'undo', 'u2')
    t.equal(second.status, 201, 'another user buys the returned unit')

    const pay = await act(srv, id, 'pay')
    t.equal(pay.status, 409, 'pay of a cancelled order answers 409')
    t.equal(pay.json.error, 'cancelled')
    const taken = await buy(srv, 'undo', 'u1')
    t.equal(taken.json?.error, 'sold_out', 'the unit is u2s now: u1 is refused sold_out')

    t.equal((await act(srv, second.json.orderId, 'cancel')).status, 200, 'u2 cancels as well')
    const rebuy = await buy(srv, 'undo', 'u1')
    t.equal(rebuy.status, 201, 'the canceller buys again: I3 counts live orders only')

    const st = await srv.state('undo')
    t.equal(st.sold, 1, 'one unit sold in Redis')
    t.same(st.users, { u1: '1' }, 'only the new order holds a unit')
    t.equal(await returnedUnits(srv, 'undo'), 2, 'each cancel returned its unit once')
    t.equal((await getOrder(srv, id)).json.status, 'cancelled', 'GET shows the first cancelled')

    const want = new Map([
      [id, 'cancelled'],
      [second.json.orderId, 'cancelled'],
      [rebuy.json.orderId, 'reserved'],
    ])
    let rows: OrderRow[] = []
    await waitFor('the three orders in PostgreSQL in their states', async () => {
      rows = await ordersOf(srv.pg.pool, 'undo')
      return rows.length === 3 && rows.every((r) => want.get(r.order_id) === r.status)
    })
    t.same(new Map(rows.map((r) => [r.order_id, r.status])), want, 'PostgreSQL agrees')
    t.equal(1, (await remaining(srv, 'undo')) + liveUnits(rows), 'I1: stock = remaining + live')
  },
)

t.test(
  'an order the previous version wrote as JSON answers GET, pay and cancel as before, and is rewritten as a record when it changes',
  async (t) => {
    const srv = await serve(t, { workers: 1 })
    await srv.sale('upgrade', { stock: 10, perUserLimit: 2 })
    const orders = saleKeys(srv.prefix, 'upgrade').orders
    const ids: string[] = []
    const before: string[] = []
    for (const user of ['old-1', 'old-2']) {
      const bought = await buy(srv, 'upgrade', user, 2)
      t.equal(bought.status, 201)
      ids.push(bought.json.orderId)
      before.push((await getOrder(srv, bought.json.orderId)).text)
    }
    // What the previous version's reserve-6.lua would have left: the same order, as JSON.
    for (const id of ids) {
      const value = (await srv.redis.hget(orders, id))!
      await srv.redis.hset(orders, id, oldOrderJson(decodeStoredOrder(value)))
    }
    for (const [i, id] of ids.entries()) {
      t.equal((await getOrder(srv, id)).text, before[i], `${id}: GET answers the same body`)
    }
    const paid = await act(srv, ids[0]!, 'pay')
    t.equal(paid.status, 200, 'pay of an order kept as JSON answers 200')
    t.match(paid.json, { orderId: ids[0], userId: 'old-1', quantity: 2, status: 'paid' })
    const cancelled = await act(srv, ids[1]!, 'cancel')
    t.match(cancelled.json, { orderId: ids[1], userId: 'old-2', status: 'cancelled' })
    for (const id of ids) {
      const value = (await srv.redis.hget(orders, id))!
      t.notOk(value.startsWith('{'), `${id}: rewritten as a record once it changed`)
    }
    t.equal((await getOrder(srv, ids[0]!)).text, paid.text, 'GET shows it paid, from the record')
    const st = await srv.state('upgrade')
    t.equal(st.sold, 2, "the cancelled order's units came back once")
    t.same(st.users, { 'old-1': '2' }, 'the canceller holds nothing now')
  },
)

t.test('unknown order ids answer 404 not_found to GET, pay and cancel', async (t) => {
  const srv = await serve(t, { workers: 1 })
  await srv.sale('real', { stock: 5, perUserLimit: 1 })
  const ids = [
    'nodot',
    '.AAAAAAAAAAAAAAAA',
    's1.AAAAAAAAAAAAAAAA',
    'real.AAAAAAAAAAAAAAAA',
    `real.${'A'.repeat(250)}`,
  ]
  for (const id of ids) {
    for (const [method, path] of [
      ['GET', `/api/v1/orders/${id}`],
      ['POST', `/api/v1/orders/${id}/pay`],
      ['POST', `/api/v1/orders/${id}/cancel`],
    ] as const) {
      const r = await srv.http.request(method, path)
      t.equal(r.status, 404, `${method} ${path.slice(0, 60)} answers 404`)
      t.equal(r.json?.error, 'not_found', 'with error not_found')
    }
  }
  const st = await srv.state('real')
  t.equal(st.sold, 0, 'nothing was sold or returned by the lookups')
  t.equal(st.orders, 0, 'and no order was made')
})

t.test(
  'an order read right after its 201 is reserved and has exactly the API fields',
  async (t) => {
    const srv = await serve(t, { workers: 2 })
    await srv.sale('fresh', { stock: 10, perUserLimit: 2, paymentTtlSeconds: 300 })

    const bought = await buy(srv, 'fresh', 'bob', 2)
    t.equal(bought.status, 201)
    t.same(
      Object.keys(bought.json).sort(),
      ['expiresAt', 'orderId', 'quantity', 'saleId', 'status', 'userId'],
      'the 201 has the API fields',
    )
    const got = await getOrder(srv, bought.json.orderId)
    t.equal(got.status, 200, 'GET right after the 201 finds the order')
    t.same(Object.keys(got.json).sort(), ORDER_FIELDS, 'with exactly the API fields')
    t.same(
      got.json,
      {
        orderId: bought.json.orderId,
        saleId: 'fresh',
        userId: 'bob',
        quantity: 2,
        status: 'reserved',
        createdAt: got.json.createdAt,
        expiresAt: bought.json.expiresAt,
        paidAt: null,
      },
      'reserved, unpaid, with the deadline of the 201',
    )
    t.match(got.json.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'createdAt is ISO')
    t.equal(
      Date.parse(got.json.expiresAt) - Date.parse(got.json.createdAt),
      300_000,
      'the deadline is paymentTtlSeconds after creation',
    )

    await waitFor('the order in PostgreSQL', async () => {
      return (await ordersOf(srv.pg.pool, 'fresh')).length === 1
    })
    const later = await getOrder(srv, bought.json.orderId)
    t.equal(later.text, got.text, 'once written to PostgreSQL, GET answers the same body')
  },
)

t.test(
  'unpaid orders expire after paymentTtlSeconds and their units are sold again to other users',
  async (t) => {
    const srv = await serve(t, { workers: 2, env: { SWEEP_MS: '100' } })
    await srv.sale('lapse', { stock: 5, perUserLimit: 1, paymentTtlSeconds: 1 })

    const first = await pool(5, 5, (i) => buy(srv, 'lapse', `first${i}`))
    t.same(
      first.map((r) => r.status),
      [201, 201, 201, 201, 201],
      'five users buy the five units',
    )
    const late = await buy(srv, 'lapse', 'early-bird')
    t.equal(late.json?.error, 'sold_out', 'the sale is sold out')

    const offset = await redisOffsetMs(srv)
    const deadline = Math.max(...first.map((r) => Date.parse(r.json.expiresAt))) - offset
    await sleep(Math.max(0, deadline + 500 - Date.now()))

    const states = await Promise.all(first.map((r) => getOrder(srv, r.json.orderId)))
    t.same(
      states.map((r) => r.json.status),
      ['expired', 'expired', 'expired', 'expired', 'expired'],
      'half a second after the deadline, GET shows all five expired',
    )
    t.ok(
      states.every((r) => r.json.paidAt === null),
      'none has a paidAt',
    )
    await waitFor('the five orders expired in PostgreSQL', async () => {
      const rows = await ordersOf(srv.pg.pool, 'lapse')
      return rows.length === 5 && rows.every((r) => r.status === 'expired')
    })
    t.pass('PostgreSQL holds the five orders as expired')
    await waitFor('the sale showing 5 remaining', async () => (await remaining(srv, 'lapse')) === 5)
    t.equal(await remaining(srv, 'lapse'), 5, 'the sale shows the five units back')
    t.same((await srv.state('lapse')).users, {}, 'no user holds a unit')

    const pay = await act(srv, first[0]!.json.orderId, 'pay')
    t.equal(pay.status, 409, 'paying an expired order answers 409')
    t.equal(pay.json.error, 'expired')
    const cancel = await act(srv, first[1]!.json.orderId, 'cancel')
    t.equal(cancel.json?.error, 'expired', 'so does cancelling one')

    const second = await pool(5, 5, (i) => buy(srv, 'lapse', `second${i}`))
    t.same(
      second.map((r) => r.status),
      [201, 201, 201, 201, 201],
      'five other users buy the five units again: the sold-out flags cleared',
    )
    // Two of them pay in time; the other three let their orders lapse too.
    const paid = await Promise.all(second.slice(0, 2).map((r) => act(srv, r.json.orderId, 'pay')))
    t.same(
      paid.map((r) => r.json.status),
      ['paid', 'paid'],
      'two pay in time',
    )

    const rows = await atRest(srv, 'lapse', 10)
    const st = await srv.state('lapse')
    t.equal(liveUnits(rows), 2, 'at rest PostgreSQL holds the two paid orders as the live ones')
    t.equal(st.sold, liveUnits(rows), 'I1: Redis sold = live units in PostgreSQL')
    t.equal(st.stock - st.sold, 3, 'the three lapsed units are back in Redis')
    await waitFor('the sale showing 3 remaining', async () => (await remaining(srv, 'lapse')) === 3)
    t.equal(
      st.stock,
      (await remaining(srv, 'lapse')) + liveUnits(rows),
      'I1: stock = remaining + live units',
    )
    t.equal(await returnedUnits(srv, 'lapse'), 8, 'each of the 8 lapsed units came back once')
    t.equal(
      await entriesAdded(srv, 'lapse'),
      20,
      'the stream got one creation and one change per order',
    )
  },
)

/**
 * Fire `action` on each of 50 orders of a sale with paymentTtlSeconds 1, timed (local clock,
 * corrected to Redis TIME) to be sent this many ms from its deadline. A request takes 1-3 ms
 * here, so those sent within a few ms of it land on either side, racing the call itself and the
 * 50 ms sweep; those 300 ms away make both outcomes sure to happen.
 */
const AROUND_DEADLINE_MS = [-300, -20, -5, -3, -2, -1, 0, 1, 5, 300]

async function raceTheDeadline(t: Test, action: 'pay' | 'cancel'): Promise<void> {
  const srv = await serve(t, { workers: 2, env: { SWEEP_MS: '50' } })
  const saleId = `race-${action}`
  const done = action === 'pay' ? 'paid' : 'cancelled'
  await srv.sale(saleId, { stock: 50, perUserLimit: 1, paymentTtlSeconds: 1 })

  const started = Date.now()
  const bought = await pool(50, 50, (i) => buy(srv, saleId, `r${i}`))
  t.ok(
    bought.every((r) => r.status === 201),
    '50 users buy the 50 units',
  )
  // Else the timed calls below would all land late: no buyer may wait long for quota.
  t.ok(Date.now() - started < 500, `the 50 buys were answered in ${Date.now() - started} ms`)
  const offset = await redisOffsetMs(srv)
  const answers = await Promise.all(
    bought.map(async (b, i) => {
      const at = Date.parse(b.json.expiresAt) - offset + AROUND_DEADLINE_MS[i % 10]!
      await sleep(Math.max(0, at - Date.now()))
      return act(srv, b.json.orderId, action)
    }),
  )

  const told = new Map<string, string>()
  const odd: string[] = []
  for (const [i, r] of answers.entries()) {
    const id: string = bought[i]!.json.orderId
    if (r.status === 200 && r.json.status === done) told.set(id, done)
    else if (r.status === 409 && r.json.error === 'expired') told.set(id, 'expired')
    else odd.push(`${id}: ${r.status} ${r.text}`)
  }
  t.same(odd, [], `every ${action} answers 200 ${done} or 409 expired`)
  const expired = [...told.values()].filter((s) => s === 'expired').length
  t.ok(
    expired > 0 && expired < 50,
    `both outcomes happened (${50 - expired} ${done}, ${expired} expired)`,
  )

  const finals = await Promise.all(bought.map((b) => getOrder(srv, b.json.orderId)))
  t.same(
    new Map(finals.map((r) => [r.json.orderId, r.json.status])),
    told,
    'every order stays in the state its answer named',
  )
  t.ok(
    finals.every((r) => (r.json.status === 'paid') === (r.json.paidAt !== null)),
    'paidAt is set exactly on the paid orders',
  )

  const rows = await atRest(srv, saleId, 50)
  t.same(new Map(rows.map((r) => [r.order_id, r.status])), told, 'PostgreSQL agrees')
  t.ok(
    rows.every((r) => (r.status === 'paid') === (r.paid_at !== null)),
    'PostgreSQL has paid_at exactly on the paid orders',
  )

  const returned = action === 'pay' ? expired : 50
  const st = await srv.state(saleId)
  t.equal(await returnedUnits(srv, saleId), returned, 'each ended order returned its unit once')
  t.equal(st.stock - st.sold, returned, 'Redis has exactly those units back')
  t.equal(st.sold, liveUnits(rows), 'I1: Redis sold = live units in PostgreSQL')
  await waitFor(
    `the sale showing ${returned} remaining`,
    async () => (await remaining(srv, saleId)) === returned,
  )
  t.equal(await remaining(srv, saleId), returned, 'the sale shows them remaining')
  t.equal(Object.keys(st.users).length, 50 - returned, 'only the live orders hold a unit per user')
  t.equal(
    await entriesAdded(srv, saleId),
    100,
    'the stream got exactly one change per order: none changed state twice',
  )
}

t.test('a pay racing the deadline ends each order either paid or expired, never both', (t) =>
  raceTheDeadline(t, 'pay'),
)

t.test(
  'a cancel racing the deadline ends each order cancelled or expired, returning its unit once',
  (t) => raceTheDeadline(t, 'cancel'),
)
