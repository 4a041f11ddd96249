import t from 'tap'
import { saleKeys } from '../../src/store/keys'
import { ordersOf, waitFor } from '../helpers/pg'
import { runCli, startServer } from '../helpers/server'

/**
 * Redis memory stays bounded by the live orders: buy-then-cancel cycles used to grow the orders
 * and idempotency hashes for the sale's life. A cancelled or expired order PostgreSQL holds is
 * forgotten in Redis ORDER_RETENTION_S after it became final; within that period a replay still
 * answers it, and afterwards PostgreSQL answers for it.
 */
const CYCLES = 200

t.test(
  'cancelled orders leave Redis after the retention period, and PostgreSQL answers for them',
  async (t) => {
    const srv = await startServer(t, {
      workers: 2,
      env: { ORDER_RETENTION_S: '1', RECONCILE_INTERVAL_MS: '0' },
    })
    await srv.sale('churn', { stock: 1, perUserLimit: 1 })
    const k = saleKeys(srv.prefix, 'churn')

    const ids: string[] = []
    for (let i = 0; i < CYCLES; i++) {
      const headers = { 'idempotency-key': `k${i}` }
      const buy = await srv.http.request(
        'POST',
        '/api/v1/sales/churn/orders',
        { userId: 'u' },
        headers,
      )
      if (buy.status !== 201) throw new Error(`cycle ${i}: buy answered ${buy.status} ${buy.text}`)
      const id = buy.json.orderId as string
      ids.push(id)
      const cancel = await srv.http.request('POST', `/api/v1/orders/${id}/cancel`)
      if (cancel.status !== 200) throw new Error(`cycle ${i}: cancel answered ${cancel.status}`)
    }
    t.equal(ids.length, CYCLES, `${CYCLES} buy-then-cancel cycles by one user on a stock of 1`)

    // Inside the retention period: the replay answers the cancelled order, not a new one.
    const replay = await srv.http.request(
      'POST',
      '/api/v1/sales/churn/orders',
      { userId: 'u' },
      { 'idempotency-key': `k${CYCLES - 1}` },
    )
    t.equal(replay.status, 200, 'a replay inside the retention period answers 200')
    t.equal(replay.json.orderId, ids[CYCLES - 1], 'with the same order')

    await waitFor(
      'every cancelled order in PostgreSQL and forgotten in Redis',
      async () => {
        const [orders, idem, final, rows] = await Promise.all([
          srv.redis.hlen(k.orders),
          srv.redis.hlen(k.idem),
          srv.redis.zcard(k.final),
          ordersOf(srv.pg.pool, 'churn'),
        ])
        return orders === 0 && idem === 0 && final === 0 && rows.length === CYCLES
      },
      15000,
    )
    t.equal(await srv.redis.hlen(k.orders), 0, 'the orders hash is empty: no order is live')
    t.equal(await srv.redis.hlen(k.idem), 0, 'the idempotency hash is empty')
    const rows = await ordersOf(srv.pg.pool, 'churn')
    t.ok(
      rows.length === CYCLES && rows.every((r) => r.status === 'cancelled'),
      `PostgreSQL keeps all ${CYCLES} orders, cancelled`,
    )
    const st = await srv.state('churn')
    t.equal(st.sold, 0, 'nothing sold')
    t.same(st.users, {}, 'nobody holds a unit')

    // PostgreSQL answers for a forgotten order.
    const old = ids[0]!
    const got = await srv.http.request('GET', `/api/v1/orders/${old}`)
    t.equal(got.status, 200, 'GET of a forgotten order answers 200')
    t.equal(got.json.status, 'cancelled', 'from PostgreSQL, cancelled')
    const again = await srv.http.request('POST', `/api/v1/orders/${old}/cancel`)
    t.equal(again.status, 200, 'cancel again answers 200 (it already was)')
    const pay = await srv.http.request('POST', `/api/v1/orders/${old}/pay`)
    t.equal(pay.status, 409, 'pay answers 409')
    t.equal(pay.json.error, 'cancelled', 'cancelled')

    // After the period the key is free again: a new order, the stock still 1.
    const fresh = await srv.http.request(
      'POST',
      '/api/v1/sales/churn/orders',
      { userId: 'u' },
      { 'idempotency-key': 'k0' },
    )
    t.equal(fresh.status, 201, 'the key of a forgotten order makes a new order')
    t.not(fresh.json.orderId, old, 'with a new id')

    const metrics = (await srv.http.request('GET', '/metrics')).text
    t.match(metrics, new RegExp(`^seckill_orders_pruned_total ${CYCLES}$`, 'm'), 'counted')

    // The reconciler does not take the forgotten orders for phantoms.
    await waitFor('the new order in PostgreSQL', async () => {
      return (await ordersOf(srv.pg.pool, 'churn')).length === CYCLES + 1
    })
    const rc = runCli(
      { redisUrl: 'redis://127.0.0.1:6379', prefix: srv.prefix, schema: srv.pg.schema },
      'reconcile',
      '--sale',
      'churn',
      '--json',
    )
    t.equal(rc.code, 0, `seckill reconcile finds no drift:\n${rc.out}`)
  },
)
