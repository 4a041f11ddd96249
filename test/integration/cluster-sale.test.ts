import t from 'tap'
import { pool } from '../helpers/http'
import { ordersOf, waitFor } from '../helpers/pg'
import { startServer } from '../helpers/server'

t.test(
  '2 workers sell exactly the 100 units of a sale to 20,000 attempts from 5,000 users',
  async (t) => {
    const srv = await startServer(t, { workers: 2 })
    await srv.sale('rush', { stock: 100, perUserLimit: 1 })

    const replies = await pool(20000, 256, (i) =>
      srv.http.request('POST', '/api/v1/sales/rush/orders', { userId: `u${i % 5000}` }),
    )

    const byStatus = new Map<number, number>()
    const codes = new Map<string, number>()
    const winners = new Map<string, number>()
    const told = new Map<string, string>()
    for (const r of replies) {
      byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1)
      if (r.status === 201) {
        winners.set(r.json.userId, (winners.get(r.json.userId) ?? 0) + r.json.quantity)
        told.set(r.json.orderId, r.json.userId)
      } else codes.set(r.json?.error, (codes.get(r.json?.error) ?? 0) + 1)
    }
    t.equal(byStatus.get(201), 100, 'exactly 100 buyers were told they won')
    t.equal(byStatus.get(0), undefined, 'no connection failed')
    t.equal((byStatus.get(409) ?? 0) + 100, 20000, 'every other attempt got a 409')
    t.same(
      [...codes.keys()].filter((c) => c !== 'sold_out' && c !== 'limit_exceeded'),
      [],
      'refusals are sold_out or limit_exceeded only',
    )
    t.ok(
      [...winners.values()].every((n) => n === 1),
      'no winner holds more than the limit of 1',
    )

    const st = await srv.state('rush')
    t.equal(st.sold, 100, 'Redis sold counter = stock')
    t.equal(st.orders, 100, 'Redis holds one order per unit sold')

    // I4: every order a client was told succeeded is in PostgreSQL, exactly once, and no other.
    await waitFor('100 orders in PostgreSQL', async () => {
      const r = await srv.pg.pool.query('SELECT count(*)::int AS n FROM orders')
      return r.rows[0].n === 100
    })
    const rows = await ordersOf(srv.pg.pool, 'rush')
    t.equal(rows.length, 100, 'PostgreSQL holds exactly 100 orders for the sale')
    t.same(
      new Map(rows.map((r) => [r.order_id, r.user_id])),
      told,
      'they are the orders (id and user) the clients were told succeeded',
    )
    t.ok(
      rows.every((r) => r.status === 'reserved' && r.quantity === 1),
      'each is reserved, one unit',
    )
    await waitFor('the stream drained', async () => (await srv.state('rush')).streamLength === 0)
    t.equal((await srv.state('rush')).streamLength, 0, 'written entries left the stream (XDEL)')
    t.ok(
      Object.values(st.users).every((n) => n === '1'),
      'no user over the per-user limit in Redis',
    )
    t.equal(Object.keys(st.users).length, 100, '100 distinct users hold the 100 units')
    t.same(
      new Set(Object.keys(st.users)),
      new Set(winners.keys()),
      'the users Redis holds are the ones told they won',
    )

    const metrics = await srv.http.request('GET', '/metrics')
    t.equal(metrics.status, 200)
    t.match(
      metrics.text,
      /seckill_purchase_answers_total\{outcome="reserved",decided_by="redis"\} 100\n/,
      '/metrics counts the 100 wins over both workers',
    )
    const batches = Number(/seckill_batch_size_count (\d+)/.exec(metrics.text)?.[1])
    const batched = Number(/seckill_batch_size_sum (\d+)/.exec(metrics.text)?.[1])
    t.ok(
      batches > 0 && batched >= 100,
      `attempts went to Redis in batches (${batched} in ${batches})`,
    )

    const sale = await srv.http.request('GET', '/api/v1/sales/rush')
    t.equal(sale.status, 200)
    t.equal(sale.headers['cache-control'], 'public, max-age=1')
  },
)

t.test(
  'one user sending 1,000 concurrent buys across workers gets one order; the rest are limit_exceeded',
  async (t) => {
    // Through the Piscina thread: the same answers must come from either place the call runs.
    const srv = await startServer(t, { workers: 2, env: { RESERVE_MODE: 'piscina' } })
    await srv.sale('solo', { stock: 100, perUserLimit: 1 })
    const replies = await pool(1000, 1000, () =>
      srv.http.request('POST', '/api/v1/sales/solo/orders', { userId: 'greedy' }),
    )
    const won = replies.filter((r) => r.status === 201)
    t.equal(won.length, 1, 'exactly one order')
    const refused = replies.filter((r) => r.status === 409)
    t.equal(refused.length, 999)
    t.ok(
      refused.every((r) => r.json.error === 'limit_exceeded'),
      'every refusal is limit_exceeded, none sold_out',
    )
    const st = await srv.state('solo')
    t.equal(st.sold, 1)
    t.equal(st.orders, 1)
    t.same(st.users, { greedy: '1' })
  },
)

t.test(
  'ten concurrent requests with the same Idempotency-Key make one order with identical answers',
  async (t) => {
    const srv = await startServer(t, { workers: 2, env: { RESERVE_MODE: 'piscina' } })
    await srv.sale('idem', { stock: 50, perUserLimit: 5 })
    const replies = await pool(10, 10, () =>
      srv.http.request(
        'POST',
        '/api/v1/sales/idem/orders',
        { userId: 'alice', quantity: 2 },
        { 'idempotency-key': 'checkout-42' },
      ),
    )
    t.equal(replies.filter((r) => r.status === 201).length, 1, 'one 201 Created')
    t.equal(replies.filter((r) => r.status === 200).length, 9, 'nine 200 replays')
    const bodies = new Set(replies.map((r) => r.text))
    t.equal(bodies.size, 1, 'every answer has the same body')
    const order = replies[0]!.json
    t.match(order, { saleId: 'idem', userId: 'alice', quantity: 2, status: 'reserved' })
    const st = await srv.state('idem')
    t.equal(st.sold, 2, 'two units, once')
    t.equal(st.orders, 1, 'one order')

    const again = await srv.http.request('GET', `/api/v1/orders/${order.orderId}`)
    t.equal(again.status, 200)
    t.match(again.json, {
      orderId: order.orderId,
      userId: 'alice',
      quantity: 2,
      status: 'reserved',
    })
  },
)
