import t from 'tap'
import { startServer } from '../helpers/server'

t.test('bad input gets the 4xx of the contract and changes nothing', async (t) => {
  const srv = await startServer(t, { workers: 2 })
  await srv.sale('calm', { stock: 10, perUserLimit: 2 })
  const order = (body: unknown, headers?: Record<string, string>) =>
    srv.http.request('POST', '/api/v1/sales/calm/orders', body, headers)

  const cases: [string, Promise<Awaited<ReturnType<typeof order>>>, number, string][] = [
    ['malformed JSON', order('{"userId": "a",'), 400, 'bad_request'],
    ['a JSON array', order('[1,2]'), 400, 'bad_request'],
    ['no body', order(''), 400, 'bad_request'],
    ['userId a number', order({ userId: 5 }), 400, 'bad_request'],
    ['userId empty', order({ userId: '' }), 400, 'bad_request'],
    ['userId of 129 chars', order({ userId: 'u'.repeat(129) }), 400, 'bad_request'],
    ['quantity a string', order({ userId: 'a', quantity: '1' }), 400, 'bad_request'],
    ['quantity 0', order({ userId: 'a', quantity: 0 }), 400, 'bad_request'],
    ['quantity 1.5', order({ userId: 'a', quantity: 1.5 }), 400, 'bad_request'],
    ['quantity over perUserLimit', order({ userId: 'a', quantity: 3 }), 400, 'bad_request'],
    ['an unknown field', order({ userId: 'a', qty: 1 }), 400, 'bad_request'],
    [
      'Idempotency-Key of 129 chars',
      order({ userId: 'a' }, { 'idempotency-key': 'k'.repeat(129) }),
      400,
      'bad_request',
    ],
    ['a 10 KiB body', order({ userId: 'a', pad: 'x'.repeat(10240) }), 413, 'too_large'],
    [
      'an unknown sale',
      srv.http.request('POST', '/api/v1/sales/nope/orders', { userId: 'a' }),
      404,
      'not_found',
    ],
    ['an unknown order', srv.http.request('GET', '/api/v1/orders/calm.nothing'), 404, 'not_found'],
    ['an unknown route', srv.http.request('GET', '/api/v1/nothing'), 404, 'not_found'],
    [
      'create without token',
      srv.http.request('POST', '/api/v1/sales', { id: 'x', name: 'x', stock: 1 }),
      401,
      'unauthorized',
    ],
    [
      'create with a wrong token',
      srv.http.request(
        'POST',
        '/api/v1/sales',
        { id: 'x', name: 'x', stock: 1 },
        { authorization: 'Bearer wrong-token-0123456789' },
      ),
      401,
      'unauthorized',
    ],
    [
      'start without token',
      srv.http.request('POST', '/api/v1/sales/calm/start'),
      401,
      'unauthorized',
    ],
    [
      'close without token',
      srv.http.request('POST', '/api/v1/sales/calm/close'),
      401,
      'unauthorized',
    ],
    [
      'create with stock 0',
      srv.admin('POST', '/api/v1/sales', { id: 'x', name: 'x', stock: 0 }),
      400,
      'bad_request',
    ],
    [
      'create with a bad id',
      srv.admin('POST', '/api/v1/sales', { id: 'a b', name: 'x', stock: 1 }),
      400,
      'bad_request',
    ],
    [
      'create with a bad date',
      srv.admin('POST', '/api/v1/sales', { id: 'x', name: 'x', stock: 1, startsAt: 'tomorrow' }),
      400,
      'bad_request',
    ],
    [
      'create ending before it starts',
      srv.admin('POST', '/api/v1/sales', {
        id: 'x',
        name: 'x',
        stock: 1,
        startsAt: '2030-01-02T00:00:00Z',
        endsAt: '2030-01-01T00:00:00Z',
      }),
      400,
      'bad_request',
    ],
    [
      'create a sale that exists',
      srv.admin('POST', '/api/v1/sales', { id: 'calm', name: 'x', stock: 1 }),
      409,
      'sale_exists',
    ],
    ['start an unknown sale', srv.admin('POST', '/api/v1/sales/nope/start'), 404, 'not_found'],
  ]
  for (const [what, reply, status, code] of cases) {
    const r = await reply
    t.equal(r.status, status, `${what}: HTTP ${status}`)
    t.equal(r.json?.error, code, `${what}: error ${code}`)
    t.type(r.json?.detail, 'string', `${what}: a human detail`)
    t.equal(r.headers['content-type'], 'application/json; charset=utf-8', `${what}: JSON`)
  }

  const st = await srv.state('calm')
  t.equal(st.sold, 0, 'nothing sold')
  t.equal(st.orders, 0, 'no order written')
  t.same(st.users, {}, 'no user charged')
  t.equal(
    await srv.redis.exists(`${srv.prefix}{x}:sale`),
    0,
    'no sale created by a refused request',
  )
  const good = await order({ userId: 'a' })
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
