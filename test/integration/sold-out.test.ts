import t from 'tap'
import { pool } from '../helpers/http'
import { commandCalls, ownRedis } from '../helpers/own-redis'
import { waitFor } from '../helpers/pg'
import { startServer } from '../helpers/server'

t.test('after a sale sells out, refused requests cause zero Redis commands', async (t) => {
  // A private Redis: INFO commandstats counts every client's commands, so nobody else may talk
  // to it. Long intervals keep the primary's background work (sale poll, order writer, expiry
  // sweep) out of the window measured.
  const redis = await ownRedis(t)
  const srv = await startServer(t, {
    workers: 2,
    redisUrl: redis.url,
    env: { SALE_POLL_MS: '60000', WRITER_IDLE_MS: '600000', SWEEP_MS: '600000' },
  })
  await srv.sale('gone', { stock: 20, perUserLimit: 1 })
  const sell = await pool(200, 50, (i) =>
    srv.http.request('POST', '/api/v1/sales/gone/orders', { userId: `s${i}` }),
  )
  t.equal(sell.filter((r) => r.status === 201).length, 20, 'the 20 units sold')
  // The writer has copied the 20 orders; it reads the stream again only when a bell rings.
  await waitFor('the 20 orders in PostgreSQL', async () => {
    const r = await srv.pg.pool.query('SELECT count(*)::int AS n FROM orders')
    return r.rows[0].n === 20
  })
  // Let the sold-out news settle on both workers (one IPC hop and one re-read by the primary).
  await new Promise((r) => setTimeout(r, 300))

  const before = await commandCalls(redis.client)
  const refused = await pool(5000, 100, (i) =>
    i % 2 === 0
      ? srv.http.request('POST', '/api/v1/sales/gone/orders', { userId: `late${i}` })
      : srv.http.request('GET', `/buy/ticket?user=late${i}`),
  )
  const after = await commandCalls(redis.client)

  t.ok(
    refused.every(
      (r) =>
        (r.status === 409 && r.json.error === 'sold_out') ||
        (r.status === 200 && r.json.code === -1),
    ),
    'all 5,000 refused as sold out',
  )
  const delta: Record<string, number> = {}
  for (const [cmd, n] of Object.entries(after)) {
    const d = n - (before[cmd] ?? 0) - (cmd === 'info' ? 1 : 0)
    if (d !== 0) delta[cmd] = d
  }
  t.same(delta, {}, 'no Redis command other than our own INFO ran while refusing')
})
