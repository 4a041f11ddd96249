import t from 'tap'
import { pool } from '../helpers/http'
import { commandCalls, ownRedis } from '../helpers/own-redis'
import { waitFor } from '../helpers/pg'
import { startServer } from '../helpers/server'

t.test(
  'the product page and its assets are cacheable, revalidate with 304, and escape the name',
  async (t) => {
    const srv = await startServer(t, { workers: 1 })
    await srv.sale('page1', { stock: 5, name: 'Phone <b>"&\'</b> 手机' }, false)

    const page = await srv.http.request('GET', '/sales/page1')
    t.equal(page.status, 200)
    t.match(page.headers['content-type'], /^text\/html/)
    t.equal(page.headers['cache-control'], 'public, max-age=60, stale-while-revalidate=300')
    const etag = page.headers.etag as string
    t.match(etag, /^"[A-Za-z0-9_-]{22}"$/, 'a strong ETag')
    t.match(
      page.text,
      '<h1>Phone &lt;b&gt;&quot;&amp;&#39;&lt;/b&gt; 手机</h1>',
      'the name, escaped',
    )
    t.notMatch(page.text, '<b>', 'no markup from the name')
    t.match(page.text, 'data-sale="page1"')
    t.notMatch(page.text, /userId|remaining|serverTime/, 'no per-user or moving data in the HTML')

    const again = await srv.http.request('GET', '/sales/page1')
    t.equal(again.headers.etag, etag, 'the same ETag on a repeat')
    t.equal(again.text, page.text)

    const cached = await srv.http.request('GET', '/sales/page1', undefined, {
      'if-none-match': etag,
    })
    t.equal(cached.status, 304, 'If-None-Match: 304')
    t.equal(cached.text, '', 'with no body')
    t.equal(cached.headers.etag, etag)

    const head = await srv.http.request('HEAD', '/sales/page1')
    t.equal(head.status, 200, 'HEAD answers')
    t.equal(head.headers.etag, etag)
    t.equal(head.headers['content-length'], String(Buffer.byteLength(page.text)))
    t.equal(head.text, '')

    for (const name of ['sale.js', 'sale.css']) {
      const ref = new RegExp(`/assets/${name.replace('.', '\\.')}\\?v=[A-Za-z0-9_-]{22}`).exec(
        page.text,
      )
      t.ok(ref, `the page names /assets/${name} with its version`)
      const a = await srv.http.request('GET', ref![0])
      t.equal(a.status, 200, `${name}: 200`)
      t.equal(a.headers['cache-control'], 'public, max-age=31536000, immutable')
      t.ok(a.text.length > 100)
      const a304 = await srv.http.request('GET', `/assets/${name}`, undefined, {
        'if-none-match': a.headers.etag as string,
      })
      t.equal(a304.status, 304, `${name}: 304 on its ETag`)
      t.equal(a304.text, '')
      const aHead = await srv.http.request('HEAD', `/assets/${name}`)
      t.equal(aHead.status, 200, `${name}: HEAD`)
      t.equal(aHead.text, '')
    }

    const missing = await srv.http.request('GET', '/sales/nosuchsale')
    t.equal(missing.status, 404, 'an unknown sale: 404')
    t.match(missing.headers['content-type'], /^text\/html/)
    t.match(missing.text, 'data-sale=""')
    const missingHead = await srv.http.request('HEAD', '/sales/nosuchsale')
    t.equal(missingHead.status, 404)
    t.equal(missingHead.text, '')
    const bad = await srv.http.request('GET', '/sales/no%20such')
    t.equal(bad.status, 404, 'an id no sale can have: 404')

    const start = await srv.admin('POST', '/api/v1/sales/page1/start')
    t.equal(start.status, 200)
    const started = await srv.http.request('GET', '/sales/page1')
    t.equal(started.headers.etag, etag, 'starting the sale does not change the page')
  },
)

t.test('the state JSON says the state, what remains and the server time', async (t) => {
  const srv = await startServer(t, { workers: 1 })
  const startsAt = new Date(Date.now() + 60_000).toISOString()
  await srv.sale('st1', { stock: 3, startsAt }, false)
  const before = Date.now()
  const r = await srv.http.request('GET', '/api/v1/sales/st1/state')
  t.equal(r.status, 200)
  t.equal(r.headers['cache-control'], 'public, max-age=1')
  t.match(r.headers['content-type'], /^application\/json/)
  t.same(Object.keys(r.json), ['state', 'remaining', 'serverTime', 'startsAt', 'endsAt'])
  t.equal(r.json.state, 'scheduled')
  t.equal(r.json.remaining, 3)
  t.equal(r.json.startsAt, startsAt)
  t.equal(r.json.endsAt, null)
  // The test's clock and Redis's are the same machine's.
  t.ok(Math.abs(r.json.serverTime - before) < 2000, 'serverTime is now, in ms')

  await srv.sale('st2', { stock: 1 })
  t.equal((await srv.http.request('POST', '/api/v1/sales/st2/orders', { userId: 'a' })).status, 201)
  const sold = await srv.http.request('GET', '/api/v1/sales/st2/state')
  t.equal(sold.json.state, 'sold_out', 'sold out once the last unit is reserved')
  t.equal(sold.json.remaining, 0)

  // The worker's copy follows the sale's bell: a sale elsewhere shows within moments.
  await srv.sale('st3', { stock: 5 })
  for (const u of ['a', 'b'])
    await srv.http.request('POST', '/api/v1/sales/st3/orders', { userId: u })
  const t0 = Date.now()
  await waitFor('remaining 3 in the state JSON', async () => {
    const r = await srv.http.request('GET', '/api/v1/sales/st3/state')
    return r.json.remaining === 3 && r.json.state === 'open'
  })
  t.ok(Date.now() - t0 < 2000, `remaining follows the sales (${Date.now() - t0} ms)`)

  const missing = await srv.http.request('GET', '/api/v1/sales/nope/state')
  t.equal(missing.status, 404)
  t.equal(missing.json.error, 'not_found')
  const head = await srv.http.request('HEAD', '/api/v1/sales/st1/state')
  t.equal(head.status, 200)
  t.equal(head.text, '')
})

t.test('reading the page and the state JSON costs no Redis command', async (t) => {
  // A private Redis: INFO commandstats counts every client's commands. Long intervals keep the
  // primary's background work (sale poll, writer, sweep) out of the window measured.
  const redis = await ownRedis(t)
  const srv = await startServer(t, {
    workers: 2,
    redisUrl: redis.url,
    env: { SALE_POLL_MS: '60000', WRITER_IDLE_MS: '600000', SWEEP_MS: '600000' },
  })
  await srv.sale('quiet', { stock: 10, name: 'Quiet' })
  // Both workers have the sale (each answers the page from its own copy).
  await pool(20, 10, () => srv.http.request('GET', '/sales/quiet'))
  await new Promise((r) => setTimeout(r, 300))

  const before = await commandCalls(redis.client)
  const reads = await pool(100, 10, (i) =>
    srv.http.request('GET', i % 2 === 0 ? '/sales/quiet' : '/api/v1/sales/quiet/state'),
  )
  const after = await commandCalls(redis.client)

  t.ok(
    reads.every((r) => r.status === 200),
    '50 page reads and 50 state reads answered',
  )
  const delta: Record<string, number> = {}
  for (const [cmd, n] of Object.entries(after)) {
    const d = n - (before[cmd] ?? 0) - (cmd === 'info' ? 1 : 0)
    if (d !== 0) delta[cmd] = d
  }
  t.same(delta, {}, 'no Redis command other than our own INFO ran while reading')
})
