import { request as httpRequest } from 'node:http'
import t from 'tap'
import { ownRedis } from '../helpers/own-redis'
import { waitFor } from '../helpers/pg'
import { Conn, parseResponses } from '../helpers/raw-http'
import { ADMIN_TOKEN, startServer } from '../helpers/server'

/**
 * HTTP framing (API.md "HTTP framing"), tested on raw sockets: what exactly goes over the wire,
 * whether the server closes the connection, and whether bytes after a refused request are ever
 * acted on. node:http would hide all three.
 */

const SMUGGLED = 'GET /buy/ticket?user=smuggled HTTP/1.1\r\nHost: x\r\n\r\n'
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))

t.test(
  'a request with repeated or conflicting Content-Length, or with Transfer-Encoding and Content-Length, is refused with a 400 and nothing after it is acted on',
  async (t) => {
    const srv = await startServer(t, { workers: 1 })
    await srv.sale('smug', { stock: 10, perUserLimit: 5 })
    const order = '/api/v1/sales/smug/orders'
    const buyBody = '{"userId":"eq"}'
    const variants: [string, string, boolean][] = [
      // [what, bytes, whether uWS itself may refuse it before any handler runs]
      [
        'Content-Length 0 then Content-Length N (conflicting), smuggling a GET /buy/ticket',
        `POST ${order} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
        false,
      ],
      [
        'Content-Length N twice (repeated, equal) with a valid order body, then a GET /buy/ticket',
        `POST ${order} HTTP/1.1\r\nHost: x\r\nContent-Length: ${buyBody.length}\r\nContent-Length: ${buyBody.length}\r\n\r\n${buyBody}${SMUGGLED}`,
        false,
      ],
      [
        'an empty Content-Length then Content-Length N on a GET route',
        `GET /api/v1/sales/smug HTTP/1.1\r\nHost: x\r\nContent-Length: \r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
        false,
      ],
      [
        'Transfer-Encoding: chunked and Content-Length N',
        `POST ${order} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: ${5 + SMUGGLED.length}\r\n\r\n0\r\n\r\n${SMUGGLED}`,
        true,
      ],
      [
        'Content-Length N and Transfer-Encoding: chunked',
        `POST ${order} HTTP/1.1\r\nHost: x\r\nContent-Length: ${5 + SMUGGLED.length}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
        true,
      ],
      [
        'Transfer-Encoding: chunked and an empty Content-Length',
        `POST ${order} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: \r\n\r\n0\r\n\r\n${SMUGGLED}`,
        false,
      ],
      [
        'a Content-Length that is a list (uWS drops the connection after the handler ran)',
        'GET /buy/ticket?user=listcl HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\nx',
        false,
      ],
      [
        'a Transfer-Encoding uWS does not decode',
        'GET /buy/ticket?user=identity HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n',
        false,
      ],
    ]
    for (const [what, bytes, uwsRefuses] of variants) {
      const conn = new Conn(srv.port)
      await conn.write(bytes)
      await conn.until(() => false, 1500)
      const { responses, rest } = parseResponses(conn.text, ['POST', 'GET'])
      if (uwsRefuses && conn.text === '') {
        // uWS v20.30's own parser refuses this before any handler runs: it closes with no answer,
        // so there is no handler that could send the 400. Nothing was acted on either way.
        t.pass(`${what}: refused by uWS itself (closed, no answer)`)
      } else {
        t.equal(responses[0]?.status, 400, `${what}: 400`)
        t.equal(JSON.parse(responses[0]?.body ?? '{}').error, 'bad_request', `${what}: bad_request`)
        t.equal(
          responses[0]?.headers['content-type'],
          'application/json; charset=utf-8',
          `${what}: a JSON error body`,
        )
      }
      t.equal(responses.length <= 1 && !/HTTP\/1\.1/.test(rest), true, `${what}: no second answer`)
      t.ok(conn.closed, `${what}: the connection is closed`)
      conn.destroy()
    }
    // A smuggled purchase would be in Redis within a batch window (about 1 ms); give it plenty.
    await pause(300)
    const st = await srv.state('smug')
    t.equal(st.sold, 0, 'nothing sold: no smuggled request was acted on')
    t.equal(st.streamLength, 0, 'no order in the stream')
    t.equal(st.orders, 0, 'no order made')

    const after = await srv.http.request('GET', '/buy/ticket?user=honest')
    t.equal(after.json?.code, 1, 'a well-framed request is served as before')
  },
)

t.test('HEAD is answered like GET without a body, and the connection stays in step', async (t) => {
  const srv = await startServer(t, { workers: 1 })
  await srv.sale('head', { stock: 10 })
  const paths = ['/healthz', '/api/v1/sales/head', '/readyz', '/api/v1/nothing', '/buy/ticket']
  // Synchronous answers may be pipelined: HEAD then GET in one write, answered in order.
  const piped = new Conn(srv.port)
  await piped.write(
    'HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
  )
  const both = await piped.responses(['HEAD', 'GET'])
  t.equal(both.responses.length, 2, 'pipelined HEAD then GET: two answers')
  t.equal(both.responses[0]?.status, 200, 'HEAD /healthz: 200')
  t.equal(both.responses[1]?.body, 'ok', 'the GET after it reads its own body')
  t.equal(both.rest, '', 'nothing left over')
  t.notOk(piped.closed, 'the connection stays open')
  piped.destroy()

  // One keep-alive connection, HEAD then GET for each route, one request at a time.
  const conn = new Conn(srv.port)
  let seen = 0
  const methods: string[] = []
  for (const path of paths) {
    for (const method of ['HEAD', 'GET']) {
      await conn.write(`${method} ${path} HTTP/1.1\r\nHost: x\r\n\r\n`)
      methods.push(method)
      const { responses } = await conn.responses(methods)
      t.equal(responses.length, ++seen, `${method} ${path}: answered and parsed`)
    }
  }
  const { responses, rest } = parseResponses(conn.text, methods)
  t.equal(rest, '', 'no stray bytes: every HEAD answer had no body')
  t.notOk(conn.closed, 'the connection is still open')
  for (let i = 0; i < paths.length; i++) {
    const head = responses[2 * i]
    const get = responses[2 * i + 1]
    const path = paths[i]
    if (!head || !get) {
      t.fail(`${path}: both answered`)
      continue
    }
    t.equal(head.status, get.status, `HEAD ${path}: same status as GET (${get.status})`)
    t.equal(head.headers['content-type'], get.headers['content-type'], `HEAD ${path}: same type`)
    t.equal(head.headers['cache-control'], get.headers['cache-control'], `HEAD ${path}: caching`)
    const length = head.headers['content-length']
    t.ok(
      length === undefined || Number(length) === Buffer.byteLength(get.body, 'latin1'),
      `HEAD ${path}: no Content-Length, or the GET body's`,
    )
    t.ok(get.body.length > 0, `GET ${path}: has its body`)
  }
  conn.destroy()
  const st = await srv.state('head')
  t.equal(st.sold, 1, 'HEAD /buy/ticket bought nothing (its answer could not say the order id)')
})

/** Send `size` bytes of body after `head`, in 64 KiB writes; the body is JSON-ish filler. */
async function upload(conn: Conn, head: string, size: number, chunked: boolean): Promise<void> {
  await conn.write(head)
  const block = Buffer.alloc(64 * 1024, 0x61)
  for (let sent = 0; sent < size && !conn.closed; sent += block.length) {
    const part = block.subarray(0, Math.min(block.length, size - sent))
    await conn.write(
      chunked
        ? Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')])
        : part,
    )
  }
  if (chunked) await conn.write('0\r\n\r\n')
}

t.test('a body far over the limit gets the 413 too_large answer, not a reset', async (t) => {
  const srv = await startServer(t, { workers: 1 })
  await srv.sale('big', { stock: 10 })
  const size = 5 * 1024 * 1024
  for (const chunked of [false, true]) {
    const what = chunked ? 'a chunked 5 MB body' : 'a 5 MB body with Content-Length'
    const conn = new Conn(srv.port)
    await upload(
      conn,
      `POST /api/v1/sales/big/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${
        chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${size}`
      }\r\n\r\n`,
      size,
      chunked,
    )
    // The connection is still in step after the body: a second request is answered on it.
    await conn.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
    const { responses } = await conn.responses(['POST', 'GET'], 5000)
    t.equal(responses[0]?.status, 413, `${what}: 413`)
    t.equal(JSON.parse(responses[0]?.body ?? '{}').error, 'too_large', `${what}: too_large`)
    t.notOk(conn.reset, `${what}: no connection reset`)
    t.equal(responses[1]?.body, 'ok', `${what}: the connection serves the next request`)
    conn.destroy()
  }

  // node:http reads the answer while it still sends: it must see the 413, not ECONNRESET.
  const reply = await new Promise<{ status: number; error: string }>((resolve) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port: srv.port,
        method: 'POST',
        path: '/api/v1/sales/big/orders',
        headers: { 'content-type': 'application/json', 'content-length': size },
      },
      (res) => {
        res.resume()
        res.on('end', () => resolve({ status: res.statusCode ?? 0, error: '' }))
      },
    )
    req.on('error', (err) => resolve({ status: 0, error: err.message }))
    req.end(Buffer.alloc(size, 0x61))
  })
  t.same(reply, { status: 413, error: '' }, 'node:http gets the 413')

  // uWS drops the connection after the handler when a Content-Length has 10 digits or more: the
  // purchase would be made and its answer lost. Refused before any handler runs.
  const huge = new Conn(srv.port)
  await huge.write(
    'GET /buy/ticket?user=huge HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n',
  )
  const { responses } = await huge.responses(['GET'])
  t.equal(responses[0]?.status, 413, 'a 10-digit Content-Length: 413')
  t.equal(JSON.parse(responses[0]?.body ?? '{}').error, 'too_large', 'too_large')
  await huge.until(() => false, 1000)
  t.ok(huge.closed, 'and the connection is closed')
  huge.destroy()
  await pause(300)
  t.equal((await srv.state('big')).sold, 0, 'nothing sold')
})

t.test(
  'error details name no internal address or driver message; the driver error is logged',
  async (t) => {
    const redis = await ownRedis(t)
    const srv = await startServer(t, { workers: 1, redisUrl: redis.url })
    await srv.sale('dark', { stock: 10 })
    await redis.kill()
    const leaks = [
      /\d+\.\d+\.\d+\.\d+/,
      new RegExp(String(redis.port)),
      /ECONNREFUSED|Connection is closed|Stream isn't writeable|enableOfflineQueue|connect /i,
    ]
    const check = (what: string, r: { status: number; json: { detail?: unknown } | null }) => {
      t.equal(r.status, 503, `${what}: 503`)
      const detail = String(r.json?.detail)
      for (const leak of leaks)
        t.notMatch(detail, leak, `${what}: detail "${detail}" has no ${leak}`)
    }
    await waitFor('/readyz to see Redis gone', async () => {
      return (await srv.http.request('GET', '/readyz')).status === 503
    })
    const ready = await srv.http.request('GET', '/readyz')
    check('/readyz', ready)
    t.match(ready.json, { error: 'unavailable', detail: /^redis: (?!ok).+; postgres: ok$/ })
    check('GET an order', await srv.http.request('GET', '/api/v1/orders/dark.nothing'))
    check('pay an order', await srv.http.request('POST', '/api/v1/orders/dark.nothing/pay'))
    check('start a sale', await srv.admin('POST', '/api/v1/sales/dark/start'))
    t.match(srv.output(), /ECONNREFUSED|Connection is closed|Stream isn't writeable/, 'logged')
  },
)

t.test('the admin bearer scheme is case-insensitive (RFC 7235)', async (t) => {
  const srv = await startServer(t, { workers: 1 })
  for (const [i, scheme] of ['bearer', 'BEARER', 'Bearer'].entries()) {
    const r = await srv.http.request(
      'POST',
      '/api/v1/sales',
      { id: `s${i}`, name: 'x', stock: 1 },
      { authorization: `${scheme} ${ADMIN_TOKEN}` },
    )
    t.equal(r.status, 201, `"${scheme} <token>" is accepted`)
  }
  for (const header of [`Basic ${ADMIN_TOKEN}`, `Bearer${ADMIN_TOKEN}`, `bearer x${ADMIN_TOKEN}`]) {
    const r = await srv.http.request(
      'POST',
      '/api/v1/sales',
      { id: 'refused', name: 'x', stock: 1 },
      { authorization: header },
    )
    t.equal(r.status, 401, `"${header.slice(0, 8)}…" is refused`)
  }
})
