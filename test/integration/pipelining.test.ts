import t, { type Test } from 'tap'
import { Conn } from '../helpers/raw-http'
import { ADMIN_TOKEN, type Server, startServer } from '../helpers/server'

/**
 * Pipelined requests (API.md "HTTP framing"): uWS closes the connection when a request arrives
 * while an earlier one still waits for its answer. The earlier one must then not be acted on: a
 * purchase, pay or sale change whose answer can never be delivered must not happen. Synchronous
 * answers stay pipelined in order.
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const HEALTHZ = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'

function post(path: string, body: string, headers = ''): string {
  return (
    `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headers}` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  )
}

/** Send `bytes` in one write; what came back before the server closed (or 2 s passed). */
async function pipelined(srv: Server, bytes: string): Promise<{ text: string; closed: boolean }> {
  const c = new Conn(srv.port)
  await c.write(bytes)
  await c.until(() => false, 1000)
  c.destroy()
  return { text: c.text, closed: c.closed }
}

async function nothingSold(t: Test, srv: Server, sale: string, what: string): Promise<void> {
  // Long enough for any batch window and Redis round trip to have passed.
  await sleep(300)
  const st = await srv.state(sale)
  t.equal(st.sold, 0, `${what}: nothing sold`)
  t.equal(st.streamLength, 0, `${what}: no order handed to the writer`)
  t.equal(st.orders, 0, `${what}: no order made`)
}

for (const batchMax of ['128', '1']) {
  t.test(
    `a purchase with a request pipelined behind it is never made (BATCH_MAX=${batchMax})`,
    async (t) => {
      const srv = await startServer(t, { workers: 1, env: { BATCH_MAX: batchMax } })
      await srv.sale('p', { stock: 10, perUserLimit: 1 })

      const a = await pipelined(srv, post('/api/v1/sales/p/orders', '{"userId":"u1"}') + HEALTHZ)
      t.ok(a.closed, 'POST order + GET /healthz: uWS closes the connection')
      t.notMatch(a.text, /"orderId"/, 'and no order answer went out')
      await nothingSold(t, srv, 'p', 'POST order + GET')

      const b = await pipelined(
        srv,
        'GET /buy/ticket?user=u2 HTTP/1.1\r\nHost: x\r\n\r\nGET /buy/ticket?user=u3 HTTP/1.1\r\nHost: x\r\n\r\n',
      )
      t.ok(b.closed, 'two /buy/ticket in one write: closed')
      t.notMatch(b.text, /"code":1/, 'no ticket answered')
      await nothingSold(t, srv, 'p', 'two /buy/ticket')

      // The same purchase, not pipelined, is made and answered: the test can tell.
      const ok = await srv.http.request('POST', '/api/v1/sales/p/orders', { userId: 'u1' })
      t.equal(ok.status, 201, 'a purchase on its own is made')
      t.equal((await srv.state('p')).sold, 1, 'and sold')
    },
  )
}

t.test('a pay or a sale change with a request pipelined behind it does not happen', async (t) => {
  const srv = await startServer(t, { workers: 1 })
  await srv.sale('q', { stock: 10, perUserLimit: 1 })
  const bought = await srv.http.request('POST', '/api/v1/sales/q/orders', { userId: 'u1' })
  t.equal(bought.status, 201)
  const id = bought.json.orderId as string

  const pay = await pipelined(srv, post(`/api/v1/orders/${id}/pay`, '') + HEALTHZ)
  t.ok(pay.closed, 'pay + GET: closed')
  await sleep(300)
  const after = await srv.http.request('GET', `/api/v1/orders/${id}`)
  t.equal(after.json.status, 'reserved', 'the order was not paid')

  const cancel = await pipelined(srv, post(`/api/v1/orders/${id}/cancel`, '') + HEALTHZ)
  t.ok(cancel.closed, 'cancel + GET: closed')
  await sleep(300)
  t.equal((await srv.state('q')).sold, 1, 'the order was not cancelled: its unit is still sold')

  const auth = `Authorization: Bearer ${ADMIN_TOKEN}\r\n`
  const create = await pipelined(
    srv,
    post('/api/v1/sales', '{"id":"r","name":"r","stock":5}', auth) + HEALTHZ,
  )
  t.ok(create.closed, 'create sale + GET: closed')
  await sleep(300)
  t.equal((await srv.http.request('GET', '/api/v1/sales/r')).status, 404, 'no sale was created')

  await srv.sale('r', { stock: 5 }, false)
  const start = await pipelined(srv, post('/api/v1/sales/r/start', '', auth) + HEALTHZ)
  t.ok(start.closed, 'start + GET: closed')
  await sleep(1200)
  const sale = await srv.http.request('GET', '/api/v1/sales/r')
  t.equal(sale.json.state, 'scheduled', 'the sale was not started')

  // Answers that need no wait stay pipelined, in order, on an open connection.
  const c = new Conn(srv.port)
  await c.write(HEALTHZ + HEALTHZ + HEALTHZ)
  const { responses } = await c.responses(['GET', 'GET', 'GET'])
  t.same(
    responses.map((r) => [r.status, r.body]),
    [
      [200, 'ok'],
      [200, 'ok'],
      [200, 'ok'],
    ],
    'three pipelined GET /healthz: three answers, in order',
  )
  t.notOk(c.closed, 'and the connection stays open')
  c.destroy()
})
