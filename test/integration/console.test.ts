import t from 'tap'
import { listenDashboard } from '../../bench/harness/dashboard-listener'
import { waitFor } from '../helpers/pg'
import { ADMIN_TOKEN, startServer } from '../helpers/server'

/**
 * The operator's console and the live dashboard on a real node of 2 workers (real Redis and
 * PostgreSQL): the admin list route, the pages with their ETag, and the dashboard's push channel.
 * The browser side is in console-browser.test.ts.
 */

t.test('the operator pages, the list route and the push channel on one node', async (t) => {
  const srv = await startServer(t, { workers: 2 })
  await srv.sale('list-a', { stock: 10 })
  await srv.sale('list-b', { stock: 5 }, false)

  t.test('GET /api/v1/sales lists every sale as GET one does, with the token', async (t) => {
    const r = await srv.admin('GET', '/api/v1/sales')
    t.equal(r.status, 200)
    t.same(
      r.json.sales.map((s: { id: string; state: string; stock: number }) => [
        s.id,
        s.state,
        s.stock,
      ]),
      [
        ['list-a', 'open', 10],
        ['list-b', 'scheduled', 5],
      ],
    )
    const one = await srv.http.request('GET', '/api/v1/sales/list-a')
    t.same(r.json.sales[0], one.json, 'each entry has the fields of GET /api/v1/sales/:id')
  })

  t.test('GET /api/v1/sales without the token or with a wrong one is 401', async (t) => {
    const none = await srv.http.request('GET', '/api/v1/sales')
    t.equal(none.status, 401)
    t.equal(none.json.error, 'unauthorized')
    const wrong = await srv.http.request('GET', '/api/v1/sales', undefined, {
      authorization: 'Bearer not-the-token',
    })
    t.equal(wrong.status, 401)
  })

  for (const path of ['/admin', '/dashboard', '/pages/admin.js', '/pages/dashboard.js']) {
    t.test(`${path} is answered with a strong ETag and 304 on revalidation`, async (t) => {
      const r = await srv.http.request('GET', path)
      t.equal(r.status, 200)
      const etag = r.headers.etag as string
      t.match(etag, /^"[A-Za-z0-9_-]{22}"$/)
      t.notOk(r.text.includes(ADMIN_TOKEN), 'the page carries no token')
      const again = await srv.http.request('GET', path, undefined, { 'if-none-match': etag })
      t.equal(again.status, 304)
      t.equal(again.text, '')
    })
  }

  t.test('the push channel refuses a missing or wrong token', async (t) => {
    for (const token of ['', 'not-the-token']) {
      const l = listenDashboard(srv.port, token)
      t.equal(await l.answered, 401, `token ${JSON.stringify(token)}`)
      l.close()
    }
  })

  t.test('the push channel sends a snapshot of the node at least once a second', async (t) => {
    const l = listenDashboard(srv.port, ADMIN_TOKEN)
    t.teardown(() => l.close())
    t.equal(await l.answered, 200)
    await waitFor('4 snapshots', () => l.snapshots.length >= 4, 10_000)
    const gaps = l.snapshots.slice(1).map((s, i) => s.at - (l.snapshots[i]?.at ?? 0))
    // One a second; a busy shared machine may delay one by a little.
    t.ok(
      gaps.every((g) => g <= 1300),
      `gaps between snapshots ${gaps.join(', ')} ms`,
    )
    const s = l.snapshots.at(-1)?.snapshot as Record<string, unknown>
    t.match(s, {
      node: String,
      answersPerSecond: Object,
      requestsPerSecond: Number,
      ordersWritten: Number,
      writerLagSeconds: Number,
      writerBacklog: Number,
      drift: Object,
      sales: [
        { id: 'list-a', state: 'open', stock: 10, sold: 0, remaining: 10 },
        { id: 'list-b', state: 'scheduled', stock: 5 },
      ],
    })
    t.equal((s.workers as unknown[]).length, 2, 'a row per worker')
    t.match((s.workers as unknown[])[0], { quota: Number, inflight: Number, parked: Number })
  })

  t.test('the snapshot counts answers per second and sold units', async (t) => {
    const l = listenDashboard(srv.port, ADMIN_TOKEN)
    t.teardown(() => l.close())
    await l.answered
    for (let i = 0; i < 3; i++) {
      const r = await srv.http.request('POST', '/api/v1/sales/list-a/orders', { userId: `u${i}` })
      t.equal(r.status, 201)
    }
    await waitFor('a snapshot with 3 sold', () =>
      l.snapshots.some((x) =>
        (x.snapshot.sales as { id: string; sold: number }[]).some(
          (s) => s.id === 'list-a' && s.sold === 3,
        ),
      ),
    )
    await waitFor('a snapshot with a rate of reserved answers', () =>
      l.snapshots.some(
        (x) => ((x.snapshot.answersPerSecond as Record<string, number>).reserved ?? 0) > 0,
      ),
    )
  })
})

t.test('a dashboard on one node shows every node of the fleet', async (t) => {
  const a = await startServer(t, { workers: 1 })
  const b = await startServer(t, { workers: 1, prefix: a.prefix, pg: a.pg })
  const l = listenDashboard(a.port, ADMIN_TOKEN)
  t.teardown(() => l.close())
  t.equal(await l.answered, 200)
  const fleetOf = (x: { snapshot: Record<string, unknown> }) =>
    (x.snapshot.fleet as { node: string; workers: unknown[] }[]) ?? []
  // b sees the fleet watched within a second, writes its snapshot, a reads it the next second.
  await waitFor('a snapshot naming the other node', () =>
    l.snapshots.some((x) => fleetOf(x).length === 1),
  )
  const last = l.snapshots.filter((x) => fleetOf(x).length === 1).at(-1)
  const other = last ? fleetOf(last)[0] : undefined
  t.not(other?.node, last?.snapshot.node, 'the other node, not this one again')
  t.equal(other?.workers.length, 1)
  const keys = await a.redis.zrange(`${a.prefix}dashboard:nodes`, 0, -1)
  t.equal(keys.length, 2, 'both nodes are in the fleet set')

  // A node stops promptly with a dashboard open on it: its workers end their streams.
  const onB = listenDashboard(b.port, ADMIN_TOKEN)
  t.teardown(() => onB.close())
  t.equal(await onB.answered, 200)
  const t0 = Date.now()
  t.equal(await b.stop(), 0, 'the node with a dashboard open stopped cleanly')
  t.ok(Date.now() - t0 < 10_000, `in ${Date.now() - t0} ms`)
  await waitFor('the stopped node to leave the fleet', () =>
    l.snapshots.slice(-1).some((x) => fleetOf(x).length === 0),
  )
})
