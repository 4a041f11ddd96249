import t from 'tap'
import { NODE_METRICS, startInProcess } from '../helpers/in-process'
import { ADMIN_TOKEN } from '../helpers/server'

/** Admin routes need `Authorization: Bearer <SECKILL_ADMIN_TOKEN>` (API.md), nothing else. */
t.test('admin routes refuse every caller without the token, and change nothing', async (t) => {
  const w = await startInProcess(t)
  await w.sale('guarded', { stock: 5 }, false)
  const routes: [string, string, unknown][] = [
    ['POST', '/api/v1/sales', { id: 'other', name: 'x', stock: 1 }],
    ['POST', '/api/v1/sales/guarded/start', undefined],
    ['POST', '/api/v1/sales/guarded/close', undefined],
    ['POST', '/api/v1/sales/guarded/stock', { add: 5 }],
  ]
  const callers: [string, Record<string, string>][] = [
    ['no header', {}],
    ['a wrong token', { authorization: 'Bearer wrong-token-0123456789' }],
    ['the token without its scheme', { authorization: ADMIN_TOKEN }],
    ['another scheme', { authorization: `Basic ${ADMIN_TOKEN}` }],
    ['the token with a byte more', { authorization: `Bearer ${ADMIN_TOKEN}x` }],
  ]
  for (const [method, path, body] of routes) {
    for (const [who, headers] of callers) {
      const r = await w.http.request(method, path, body, headers)
      t.equal(r.status, 401, `${method} ${path}, ${who}: 401`)
      t.equal(r.json?.error, 'unauthorized', `${method} ${path}, ${who}: unauthorized`)
    }
  }
  const query = await w.http.request('POST', `/api/v1/sales/guarded/start?token=${ADMIN_TOKEN}`)
  t.equal(query.status, 401, 'a token in the URL is not a token')
  t.equal(await w.redis.exists(`${w.prefix}{other}:sale`), 0, 'no sale created')
  const view = await w.http.request('GET', '/api/v1/sales/guarded')
  t.equal(view.json.state, 'scheduled', 'the sale was neither started nor closed')
  t.equal(view.json.stock, 5, 'and its stock did not change')
})

t.test('the scheme is case-insensitive, and a started sale reaches the worker', async (t) => {
  const w = await startInProcess(t)
  await w.sale('open-me', { stock: 5 }, false)
  const started = await w.http.request('POST', '/api/v1/sales/open-me/start', undefined, {
    authorization: `bearer ${ADMIN_TOKEN}`,
  })
  t.equal(started.status, 200)
  t.equal(started.json.state, 'open')
  t.ok(
    w.sent.some((m) => m.t === 'changed' && m.saleId === 'open-me'),
    'the worker told its primary the sale changed',
  )
  const r = await w.http.request('POST', '/api/v1/sales/open-me/orders', { userId: 'a' })
  t.equal(r.status, 201, 'and sells right after the start answered')
})

t.test('GET /metrics is the node aggregate the primary answers with', async (t) => {
  const w = await startInProcess(t)
  const r = await w.http.request('GET', '/metrics')
  t.equal(r.status, 200)
  t.equal(r.text, NODE_METRICS, 'the answer of the primary, asked over the channel')
})
