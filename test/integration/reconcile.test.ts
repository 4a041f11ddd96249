import { spawnSync } from 'node:child_process'
import t from 'tap'
import { saleKeys } from '../../src/store/keys'
import { RESERVE } from '../../src/store/lua/reserve'
import { pool } from '../helpers/http'
import { ordersOf, waitFor } from '../helpers/pg'
import { openRedis } from '../helpers/redis'
import { CLI, runCli, type Server, startServer } from '../helpers/server'

/**
 * The data-control module: `seckill reconcile` compares a sale's orders in PostgreSQL with Redis
 * and, with --repair, makes them agree; the server's periodic run publishes seckill_drift.
 */
function cli(srv: Server, ...args: string[]): { code: number | null; out: string } {
  return runCli(
    { redisUrl: 'redis://127.0.0.1:6379', prefix: srv.prefix, schema: srv.pg.schema },
    ...args,
  )
}

async function settled(srv: Server, saleId: string, n: number): Promise<void> {
  await waitFor(`${n} orders of ${saleId} in PostgreSQL, stream drained`, async () => {
    const rows = await ordersOf(srv.pg.pool, saleId)
    return rows.length === n && (await srv.state(saleId)).streamLength === 0
  })
}

t.test('reconcile finds each kind of drift, repairs it, and reports it as metrics', async (t) => {
  const srv = await startServer(t, { workers: 1, env: { RECONCILE_INTERVAL_MS: '300' } })
  await srv.sale('rc', { stock: 20, perUserLimit: 2 })
  const bought = await pool(10, 10, (i) =>
    srv.http.request('POST', '/api/v1/sales/rc/orders', { userId: `u${i}` }),
  )
  t.ok(
    bought.every((r) => r.status === 201),
    'ten orders reserved',
  )
  const ids = bought.map((r) => r.json.orderId as string)
  t.equal((await srv.http.request('POST', `/api/v1/orders/${ids[0]}/pay`)).status, 200)
  t.equal((await srv.http.request('POST', `/api/v1/orders/${ids[1]}/cancel`)).status, 200)
  await settled(srv, 'rc', 10)

  let r = cli(srv, 'reconcile')
  t.equal(r.code, 0, 'a sale in step: exit 0')
  t.match(r.out, /sale rc: no drift/, 'and says so')

  // 1. An order deleted from PostgreSQL (lost: I4).
  await srv.pg.pool.query('DELETE FROM orders WHERE order_id = $1', [ids[2]])
  r = cli(srv, 'reconcile', '--sale', 'rc')
  t.equal(r.code, 1, 'drift left unrepaired: exit 1')
  t.match(r.out, /missing_in_pg=1/, 'the deleted order is reported missing')
  await waitFor('the periodic run to publish the missing order', async () => {
    const m = await srv.http.request('GET', '/metrics')
    return /seckill_drift\{sale="rc",kind="missing_in_pg"\} 1\n/.test(m.text)
  })
  t.pass('GET /metrics shows seckill_drift{kind="missing_in_pg"} 1')

  // 2. A phantom order: in PostgreSQL, never made by Redis (I5).
  await srv.pg.pool.query(
    `INSERT INTO orders (order_id, sale_id, user_id, quantity, status, created_at, expires_at)
     VALUES ('rc.PHANTOMPHANTOM0', 'rc', 'ghost', 1, 'reserved', now(), now() + interval '5 min')`,
  )
  // 3. A changed counter: 3 units sold that no order accounts for.
  await srv.redis.hincrby(saleKeys(srv.prefix, 'rc').sale, 'sold', 3)
  // 4. A state PostgreSQL lost: the paid order shows reserved.
  await srv.pg.pool.query(
    `UPDATE orders SET status = 'reserved', paid_at = NULL WHERE order_id = $1`,
    [ids[0]],
  )

  r = cli(srv, 'reconcile', '--json')
  t.equal(r.code, 1)
  const [found] = JSON.parse(r.out) as { report: Record<string, unknown> }[]
  const report = found!.report as {
    missingInPg: { orderId: string }[]
    phantomsInPg: { orderId: string }[]
    statusMismatch: { redis: { status: string }; pg: { status: string } }[]
    sold: { counter: number; live: number }
  }
  t.same(
    report.missingInPg.map((o) => o.orderId),
    [ids[2]],
    'the deleted order, by id',
  )
  t.same(
    report.phantomsInPg.map((o) => o.orderId),
    ['rc.PHANTOMPHANTOM0'],
    'the phantom, by id',
  )
  t.same(
    report.statusMismatch.map((m) => [m.redis.status, m.pg.status]),
    [['paid', 'reserved']],
    'the paid order PostgreSQL shows reserved',
  )
  t.same(report.sold, { counter: 12, live: 9 }, 'the sold counter is 3 over the live units')

  const before = await srv.redis.hget(saleKeys(srv.prefix, 'rc').sale, 'returned')
  r = cli(srv, 'reconcile', '--repair')
  t.equal(r.code, 0, 'everything repaired: exit 0')
  t.match(r.out, /inserted 1, overwrote 1, deleted 1, sold 12 -> 9/, 'says what it repaired')
  t.match(r.out, /after: sale rc: no drift/)

  const rows = new Map((await ordersOf(srv.pg.pool, 'rc')).map((o) => [o.order_id, o]))
  t.equal(rows.size, 10, 'PostgreSQL holds the ten orders again, and no phantom')
  t.ok(rows.has(ids[2]!), 'the deleted order is back')
  t.equal(rows.get(ids[0]!)?.status, 'paid', 'the paid order is paid again')
  t.ok(rows.get(ids[0]!)?.paid_at, 'with its paid_at')
  t.equal((await srv.state('rc')).sold, 9, 'sold counter = live units')
  const after = await srv.redis.hget(saleKeys(srv.prefix, 'rc').sale, 'returned')
  t.equal(
    Number(after) - Number(before),
    3,
    'the 3 units the counter held back are returned to sale',
  )
  const sale = await srv.http.request('GET', '/api/v1/sales/rc')
  await waitFor('the sale to show 11 remaining', async () => {
    const s = await srv.http.request('GET', '/api/v1/sales/rc')
    return s.json.remaining === 11
  })
  t.equal(sale.status, 200)

  await waitFor('the periodic run to see no drift', async () => {
    const m = await srv.http.request('GET', '/metrics')
    return (
      /seckill_drift\{sale="rc",kind="missing_in_pg"\} 0\n/.test(m.text) &&
      /seckill_drift\{sale="rc",kind="sold_counter"\} 0\n/.test(m.text)
    )
  })
  t.pass('the drift gauges are back to 0')
})

t.test('reconcile counts orders still in the stream as in flight, not as drift', async (t) => {
  const srv = await startServer(t, { workers: 1, env: { WRITER_IDLE_MS: '600000' } })
  await srv.sale('fly', { stock: 5 })
  // The writer's first steps (its pending entries, then new ones) run when it learns of the sale.
  await new Promise((r) => setTimeout(r, 300))
  // An order reserved by the purchase script itself, whose bell rings on a channel no writer
  // hears: the writer, woken only by bells (its safety-net read is 10 minutes away), leaves the
  // entry in the stream.
  const scripts = openRedis(t)
  const [reply] = await scripts.reserve(
    ...RESERVE.keys(saleKeys(srv.prefix, 'fly')),
    1,
    'fly.quiet',
    'a',
    1,
    '',
    'nobody-listens',
  )
  t.equal(reply?.[0], 0, 'the order is reserved')
  const r = cli(srv, 'reconcile', '--sale', 'fly')
  t.equal(r.code, 0, 'no drift while the order waits in the stream')
  t.match(r.out, /no drift \(in flight: 1\)/, 'the order is counted in flight')
})

t.test('reconcile refuses an unknown command with its usage and exit 2', async (t) => {
  const r = spawnSync(process.execPath, [CLI, 'frobnicate'], { encoding: 'utf8' })
  t.equal(r.status, 2)
  t.match(r.stderr, /unknown command "frobnicate"/)
  t.match(r.stderr, /seckill reconcile/)
})
