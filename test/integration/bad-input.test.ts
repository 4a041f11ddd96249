import t from 'tap'
import { checkBadInput } from '../helpers/bad-input'
import { startServer } from '../helpers/server'

t.test('bad input gets the 4xx of the contract and changes nothing', async (t) => {
  const srv = await startServer(t, { workers: 2 })
  await srv.sale('calm', { stock: 10, perUserLimit: 2 })
  await checkBadInput(t, srv)

  const st = await srv.state('calm')
  t.equal(st.sold, 0, 'nothing sold')
  t.equal(st.orders, 0, 'no order written')
  t.same(st.users, {}, 'no user charged')
  t.equal(
    await srv.redis.exists(`${srv.prefix}{x}:sale`),
    0,
    'no sale created by a refused request',
  )
  const good = await srv.http.request('POST', '/api/v1/sales/calm/orders', { userId: 'a' })
  t.equal(good.status, 201, 'the server still sells after all that')
})

t.test('a closed sale refuses, and cannot be started again', async (t) => {
  const srv = await startServer(t, { workers: 1 })
  await srv.sale('over', { stock: 10 })
  const closed = await srv.admin('POST', '/api/v1/sales/over/close')
  t.equal(closed.status, 200)
  t.equal(closed.json.state, 'closed')
  const r = await srv.http.request('POST', '/api/v1/sales/over/orders', { userId: 'a' })
  t.equal(r.status, 409)
  t.equal(r.json.error, 'closed')
  const restart = await srv.admin('POST', '/api/v1/sales/over/start')
  t.equal(restart.status, 409)
  t.equal(restart.json.error, 'closed')
  t.equal((await srv.state('over')).sold, 0)
})

t.test('a sale not yet started refuses with not_started and sells once started', async (t) => {
  const srv = await startServer(t, { workers: 2 })
  await srv.sale('later', { stock: 10 }, false)
  const early = await srv.http.request('POST', '/api/v1/sales/later/orders', { userId: 'a' })
  t.equal(early.status, 409)
  t.equal(early.json.error, 'not_started')
  const view = await srv.http.request('GET', '/api/v1/sales/later')
  t.equal(view.json.state, 'scheduled')
  await srv.admin('POST', '/api/v1/sales/later/start')
  // Right after the start answered, every worker of the node must sell.
  const now = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      srv.http.request('POST', '/api/v1/sales/later/orders', { userId: `n${i}` }),
    ),
  )
  t.same(
    now.map((r) => r.status),
    Array(8).fill(201),
    'all sell right after start',
  )
})
