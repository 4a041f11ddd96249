import type { Test } from 'tap'
import type { Client, Reply } from './http'

/**
 * The bad input of API.md, one table: each request with the 4xx and error code it must get.
 * Run against the whole node (test/integration/bad-input.test.ts) and against one worker started
 * in the test's process (test/http/bad-input.test.ts). Sale `calm` must exist (perUserLimit 2).
 */
export interface Target {
  readonly http: Client
  admin(method: string, path: string, body?: unknown): Promise<Reply>
}

export async function checkBadInput(t: Test, srv: Target): Promise<void> {
  const order = (body: unknown, headers?: Record<string, string>) =>
    srv.http.request('POST', '/api/v1/sales/calm/orders', body, headers)
  const stock = (body: unknown) => srv.admin('POST', '/api/v1/sales/calm/stock', body)

  const cases: [string, Promise<Reply>, number, string][] = [
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
    [
      'stock without token',
      srv.http.request('POST', '/api/v1/sales/calm/stock', { add: 1 }),
      401,
      'unauthorized',
    ],
    ['stock with neither add nor remove', stock({}), 400, 'bad_request'],
    ['stock with both add and remove', stock({ add: 1, remove: 1 }), 400, 'bad_request'],
    ['stock add 0', stock({ add: 0 }), 400, 'bad_request'],
    ['stock remove -1', stock({ remove: -1 }), 400, 'bad_request'],
    ['stock add 1.5', stock({ add: 1.5 }), 400, 'bad_request'],
    ['stock add a string', stock({ add: '5' }), 400, 'bad_request'],
    ['stock add null', stock({ add: null }), 400, 'bad_request'],
    ['stock add over 10^9', stock({ add: 1_000_000_001 }), 400, 'bad_request'],
    ['stock with an unknown field', stock({ add: 1, note: 'x' }), 400, 'bad_request'],
    ['stock with malformed JSON', stock('{"add": 1'), 400, 'bad_request'],
    ['stock with no body', stock(''), 400, 'bad_request'],
    [
      'stock of an unknown sale',
      srv.admin('POST', '/api/v1/sales/nope/stock', { add: 1 }),
      404,
      'not_found',
    ],
  ]
  for (const [what, reply, status, code] of cases) {
    const r = await reply
    t.equal(r.status, status, `${what}: HTTP ${status}`)
    t.equal(r.json?.error, code, `${what}: error ${code}`)
    t.type(r.json?.detail, 'string', `${what}: a human detail`)
    t.equal(r.headers['content-type'], 'application/json; charset=utf-8', `${what}: JSON`)
  }
}
