import t from 'tap'
import { saleKeys, WRITER_GROUP } from '../../src/store/keys'
import { pool, type Reply } from '../helpers/http'
import { ownPg } from '../helpers/own-pg'
import { freshSchema, ordersOf, waitFor } from '../helpers/pg'
import { type Server, startServer } from '../helpers/server'

/**
 * I4 across an outage of the order store: PostgreSQL (a private instance, never the shared one)
 * is stopped in the middle of a sale and started again. Buyers must not notice; every order they
 * were told about must reach PostgreSQL once it is back, and nothing may be left behind in Redis.
 */

/** The value of one sample in /metrics text (NaN when absent). */
function sample(text: string, name: string, labels = ''): number {
  const escaped = `${name}${labels}`.replace(/[{}]/g, '\\$&')
  const m = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text)
  return m ? Number(m[1]) : Number.NaN
}

async function metrics(srv: Server): Promise<string> {
  const r = await srv.http.request('GET', '/metrics')
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`)
  return r.text
}

t.test(
  'the sale goes on while PostgreSQL is down, and the backlog drains with nothing lost when it is back',
  async (t) => {
    const own = await ownPg(t)
    const srv = await startServer(t, {
      workers: 2,
      // Batches of 40: the 150 orders of the outage drain over several steps, not one.
      env: { DATABASE_URL: own.url, WRITER_BATCH: '40' },
      pg: freshSchema(t, own.url),
    })
    const sale = 'outage'
    const backlog = `{sale="${sale}"}`
    await srv.sale(sale, { stock: 300, perUserLimit: 1 })

    const told = new Map<string, string>()
    const buy = async (from: number, n: number): Promise<Reply[]> => {
      const replies = await pool(n, 16, (i) =>
        srv.http.request('POST', `/api/v1/sales/${sale}/orders`, { userId: `u${from + i}` }),
      )
      for (const r of replies) if (r.status === 201) told.set(r.json.orderId, r.json.userId)
      return replies
    }
    const countRows = async () =>
      (await srv.pg.pool.query('SELECT count(*)::int AS n FROM orders')).rows[0].n as number

    // Before the outage: 100 orders, written and gone from the stream.
    const first = await buy(0, 100)
    t.equal(first.filter((r) => r.status === 201).length, 100, 'the first 100 buyers won')
    await waitFor('the first 100 orders in PostgreSQL and out of the stream', async () => {
      return (await countRows()) === 100 && (await srv.state(sale)).streamLength === 0
    })
    t.equal((await srv.http.request('GET', '/readyz')).status, 200, 'ready before the outage')
    const before = await metrics(srv)
    t.equal(sample(before, 'seckill_writer_failures_total'), 0, 'no failed write so far')

    // The outage.
    await own.stop()
    const down = await srv.http.request('GET', '/readyz')
    t.equal(down.status, 503, '/readyz answers 503 while PostgreSQL is down')
    t.match(down.json, { error: 'unavailable', detail: /postgres: (?!ok)/ }, 'and says why')

    const second = await buy(100, 150)
    t.same(
      second.map((r) => r.status).filter((s) => s !== 201),
      [],
      'all 150 buyers during the outage were told they won: the sale goes on',
    )
    t.equal(told.size, 250, '250 distinct orders told')

    // Six failed steps (100+200+400+800+1600 ms of back-off): the outage lasts long enough for
    // the back-off to grow, and the writer must still come back on its own.
    await waitFor('the writer to fail and retry with back-off', async () => {
      return sample(await metrics(srv), 'seckill_writer_failures_total') >= 6
    })
    const during = await metrics(srv)
    const st = await srv.state(sale)
    t.equal(st.sold, 250, 'Redis sold 250 units')
    t.equal(st.streamLength, 150, 'the 150 new orders wait in the stream')
    t.equal(
      sample(during, 'seckill_orders_written_total'),
      100,
      'the writer wrote none of them: PostgreSQL holds the first 100 only',
    )
    t.equal(
      sample(during, 'seckill_writer_backlog_entries', backlog),
      150,
      '/metrics shows the 150 orders not yet in PostgreSQL as backlog',
    )
    t.ok(
      sample(during, 'seckill_writer_lag_seconds', backlog) > 0,
      '/metrics shows the writer lagging',
    )
    t.ok(sample(during, 'seckill_writer_failures_total') >= 6, '/metrics counts the failures')

    // PostgreSQL comes back: the backlog drains by itself.
    await own.start()
    await waitFor('all 250 orders in PostgreSQL', async () => (await countRows()) === 250, 30000)
    const rows = await ordersOf(srv.pg.pool, sale)
    t.equal(rows.length, 250, 'PostgreSQL holds 250 orders for the sale')
    t.equal(await countRows(), 250, 'and no other row')
    t.same(
      new Map(rows.map((r) => [r.order_id, r.user_id])),
      told,
      'exactly the orders (id and user) the clients were told succeeded',
    )
    t.ok(
      rows.every((r) => r.status === 'reserved' && r.quantity === 1),
      'each reserved, one unit',
    )

    await waitFor('the backlog gauge back to 0', async () => {
      return sample(await metrics(srv), 'seckill_writer_backlog_entries', backlog) === 0
    })
    const after = await metrics(srv)
    t.equal(sample(after, 'seckill_writer_backlog_entries', backlog), 0, 'backlog back to 0')
    t.equal(sample(after, 'seckill_writer_lag_seconds', backlog), 0, 'lag back to 0')
    t.equal(
      sample(after, 'seckill_orders_written_total'),
      250,
      'every order was written once: no write counted twice',
    )
    t.equal(
      sample(after, 'seckill_dead_letters_total'),
      0,
      'an outage is not a bad row: nothing was dead-lettered',
    )
    const keys = saleKeys(srv.prefix, sale)
    t.equal((await srv.state(sale)).streamLength, 0, 'the stream is empty (XDEL after commit)')
    t.equal(await srv.redis.xlen(keys.dead), 0, 'the dead-letter stream is empty')
    const pending = (await srv.redis.xpending(keys.stream, WRITER_GROUP)) as [number, ...unknown[]]
    t.equal(pending[0], 0, 'nothing is pending in the writers group (XACK after commit)')

    const out = srv.output()
    t.equal(
      out.split('the order writer cannot write').length - 1,
      1,
      'the outage is logged once, not once per retry',
    )
    t.match(out, /the order writer writes again/, 'and its end is logged')

    await waitFor('/readyz to answer 200', async () => {
      return (await srv.http.request('GET', '/readyz')).status === 200
    })
    t.equal((await srv.http.request('GET', '/readyz')).status, 200, '/readyz answers 200 again')
  },
)
