import { connect } from 'node:net'
import t from 'tap'
import { saleKeys } from '../../src/store/keys'
import { waitFor } from '../helpers/pg'
import { type Server, startServer } from '../helpers/server'

/**
 * API.md "Identifiers": userId and Idempotency-Key are 1-128 characters of valid UTF-8 without
 * control characters; anything else is refused before any stock is touched, so only what
 * PostgreSQL can store is ever sold (a NUL used to be sold, then refused by PostgreSQL).
 */

const CJK = '中'
const EMOJI = '😀' // astral: two UTF-16 code units, four UTF-8 bytes, one character
const REFUSED = '{"code":-1,"msg":"已售罄"}'
const WON = /^\{"code":1,"msg":"抢票成功","data":\{"orderId":"[^"]+"\}\}$/

interface RawReply {
  readonly status: number
  readonly text: string
}

/**
 * One request with its bytes exactly as given: node:http refuses control characters and
 * anything outside latin1 in header values, and always sends string bodies as valid UTF-8.
 * A string value is sent as its UTF-8 bytes. Status 0: no answer within 5 s.
 */
function raw(
  port: number,
  method: string,
  path: string,
  headers: readonly [string, string | Buffer][],
  body?: string | Buffer,
): Promise<RawReply> {
  const bytes = (v: string | Buffer) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : v)
  const payload = body === undefined ? undefined : bytes(body)
  const parts: Buffer[] = [Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`)]
  for (const [name, value] of headers) parts.push(Buffer.from(`${name}: `), bytes(value), CRLF)
  if (payload) {
    parts.push(
      Buffer.from(`Content-Type: application/json\r\nContent-Length: ${payload.length}\r\n`),
    )
  }
  parts.push(CRLF)
  if (payload) parts.push(payload)
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write(Buffer.concat(parts)))
    let got = Buffer.alloc(0)
    const done = (r: RawReply) => {
      s.destroy()
      resolve(r)
    }
    s.setTimeout(5000, () => done({ status: 0, text: 'timeout' }))
    s.on('error', (err) => done({ status: 0, text: err.message }))
    s.on('close', () => done({ status: 0, text: 'closed' }))
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d])
      const end = got.indexOf('\r\n\r\n')
      if (end < 0) return
      const head = got.subarray(0, end).toString('latin1')
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0)
      if (got.length < end + 4 + length) return
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0)
      done({ status, text: got.subarray(end + 4, end + 4 + length).toString('utf8') })
    })
  })
}
const CRLF = Buffer.from('\r\n')

async function answered(srv: Server, outcome: string): Promise<number> {
  const m = await srv.http.request('GET', '/metrics')
  const re = new RegExp(
    `seckill_purchase_answers_total\\{outcome="${outcome}",decided_by="worker"\\} (\\d+)`,
  )
  return Number(re.exec(m.text)?.[1] ?? 0)
}

async function pgUsers(srv: Server, saleId: string): Promise<string[]> {
  const r = await srv.pg.pool
    .query<{ user_id: string }>('SELECT user_id FROM orders WHERE sale_id = $1', [saleId])
    .catch(() => ({ rows: [] as { user_id: string }[] }))
  return r.rows.map((x) => x.user_id).sort()
}

t.test(
  'POST orders refuses identifiers PostgreSQL cannot store, before any stock is touched',
  async (t) => {
    const srv = await startServer(t, { workers: 1 })
    await srv.sale('ids', { stock: 100, perUserLimit: 1 })
    const path = '/api/v1/sales/ids/orders'
    const order = (body: unknown) => srv.http.request('POST', path, body)
    const rawOrder = (key: string | Buffer | null, body: string | Buffer) =>
      raw(srv.port, 'POST', path, key === null ? [] : [['Idempotency-Key', key]], body)

    const bad: [string, Promise<{ status: number; text: string }>, RegExp][] = [
      ['a NUL in userId', order({ userId: 'a\u0000b' }), /userId/],
      ['a userId that is one NUL', order({ userId: '\u0000' }), /userId/],
      ['a newline in userId', order({ userId: 'a\nb' }), /userId/],
      ['a tab in userId', order({ userId: 'a\tb' }), /userId/],
      ['U+001F in userId', order({ userId: 'a\u001fb' }), /userId/],
      ['DEL in userId', order({ userId: 'a\u007fb' }), /userId/],
      ['a lone high surrogate in userId', order('{"userId":"\\ud800"}'), /userId/],
      ['a lone low surrogate in userId', order('{"userId":"a\\udc00"}'), /userId/],
      ['a userId of 129 CJK characters', order({ userId: CJK.repeat(129) }), /userId/],
      ['a userId of 129 emoji', order({ userId: EMOJI.repeat(129) }), /userId/],
      [
        'a userId with bytes that are not UTF-8',
        rawOrder(
          null,
          Buffer.concat([Buffer.from('{"userId":"a'), Buffer.from([0xff]), Buffer.from('b"}')]),
        ),
        /userId/,
      ],
      ['an Idempotency-Key with DEL', rawOrder('k\u007fk', '{"userId":"a"}'), /Idempotency-Key/],
      ['an Idempotency-Key with a tab', rawOrder('k\tk', '{"userId":"a"}'), /Idempotency-Key/],
      [
        'an Idempotency-Key with bytes that are not UTF-8',
        rawOrder(Buffer.from([0x6b, 0xff, 0x6b]), '{"userId":"a"}'),
        /Idempotency-Key/,
      ],
      [
        'an Idempotency-Key of 129 CJK characters',
        rawOrder(`k${CJK.repeat(127)}k`, '{"userId":"a"}'),
        /Idempotency-Key/,
      ],
    ]
    for (const [what, reply, detail] of bad) {
      const r = await reply
      t.equal(r.status, 400, `${what}: HTTP 400`)
      let json: { error?: string; detail?: string } = {}
      try {
        json = JSON.parse(r.text)
      } catch {}
      t.equal(json.error, 'bad_request', `${what}: bad_request`)
      t.match(json.detail, detail, `${what}: the detail names the field`)
    }

    const st = await srv.state('ids')
    t.equal(st.sold, 0, 'nothing sold')
    t.equal(st.streamLength, 0, 'nothing handed to the order writer')
    t.equal(st.orders, 0, 'no order made')
    t.same(st.users, {}, 'no user charged')

    const cjk = await order({ userId: CJK.repeat(128) })
    t.equal(cjk.status, 201, '128 CJK characters (384 bytes) are a valid userId')
    t.equal(cjk.json?.userId, CJK.repeat(128), 'the 201 echoes exactly that userId')
    const emoji = await order({ userId: EMOJI.repeat(128) })
    t.equal(emoji.status, 201, '128 emoji count as 128 characters')
    t.equal(emoji.json?.userId, EMOJI.repeat(128), 'the 201 echoes exactly the emoji')
    const keyed = await rawOrder('k中k', '{"userId":"keyed"}')
    t.equal(keyed.status, 201, 'an Idempotency-Key with UTF-8 bytes inside is valid')
    const again = await rawOrder('k中k', '{"userId":"keyed"}')
    t.equal(again.status, 200, 'the same key again is a replay')
    t.equal(JSON.parse(again.text).orderId, JSON.parse(keyed.text).orderId, 'of the same order')
    const plain = await order({ userId: 'plain' })
    t.equal(plain.status, 201, 'a plain order still works afterwards')

    const expected = [CJK.repeat(128), EMOJI.repeat(128), 'keyed', 'plain'].sort()
    await waitFor(
      'the four orders in PostgreSQL',
      async () => (await pgUsers(srv, 'ids')).length >= 4,
    )
    t.strictSame(await pgUsers(srv, 'ids'), expected, 'PostgreSQL holds exactly these user ids')
    const key = await srv.pg.pool.query(
      "SELECT idempotency_key FROM orders WHERE sale_id = 'ids' AND user_id = 'keyed'",
    )
    t.equal(key.rows[0]?.idempotency_key, 'k中k', 'the key is stored as the client sent it')
    t.equal((await srv.state('ids')).sold, 4, 'sold agrees with PostgreSQL')
    t.equal(await srv.redis.xlen(saleKeys(srv.prefix, 'ids').dead), 0, 'no dead letter')
  },
)

t.test('/buy/ticket refuses such a user id in the reference shape, as bad_request', async (t) => {
  const srv = await startServer(t, { workers: 1 })
  await srv.sale('tix', { stock: 100, perUserLimit: 1 })
  const get = (path: string) => srv.http.request('GET', path)
  const byHeader = (id: string | Buffer) => raw(srv.port, 'GET', '/buy/ticket', [['X-User-Id', id]])

  const bad: [string, Promise<{ status: number; text: string }>][] = [
    ['?user=%00', get('/buy/ticket?user=%00')],
    ['?user=a%00b by POST', srv.http.request('POST', '/buy/ticket?user=a%00b')],
    ['?user=%0A', get('/buy/ticket?user=%0A')],
    ['?user=%7F', get('/buy/ticket?user=%7F')],
    ['?user=%FF (not UTF-8)', get('/buy/ticket?user=%FF')],
    ['?user=%ED%A0%80 (an encoded surrogate)', get('/buy/ticket?user=%ED%A0%80')],
    [
      '?user= of 129 CJK characters',
      get(`/buy/ticket?user=${encodeURIComponent(CJK.repeat(129))}`),
    ],
    ['X-User-Id with DEL', byHeader('a\u007fb')],
    ['X-User-Id with a tab', byHeader('a\tb')],
    ['X-User-Id with bytes that are not UTF-8', byHeader(Buffer.from([0x61, 0xff, 0x62]))],
  ]
  for (const [what, reply] of bad) {
    const r = await reply
    t.equal(r.status, 200, `${what}: HTTP 200, as the reference`)
    t.equal(r.text, REFUSED, `${what}: refused in the reference shape`)
  }
  t.equal(await answered(srv, 'bad_request'), bad.length, 'each refusal counts as bad_request')
  const st = await srv.state('tix')
  t.equal(st.sold, 0, 'nothing sold')
  t.equal(st.streamLength, 0, 'nothing handed to the order writer')

  t.match((await get('/buy/ticket?user=%E4%B8%AD')).text, WON, '?user=%E4%B8%AD buys as 中')
  t.match((await byHeader('a中b')).text, WON, 'X-User-Id with UTF-8 bytes buys')
  t.equal(
    (await get('/buy/ticket?user=a%E4%B8%ADb')).text,
    REFUSED,
    'the header and the query name the same buyer: over the limit',
  )
  const emoji = encodeURIComponent(EMOJI.repeat(128))
  t.match((await get(`/buy/ticket?user=${emoji}`)).text, WON, '128 emoji in ?user= buy')
  t.match((await get('/buy/ticket')).text, WON, 'anonymous still buys')
  t.match((await get('/buy/ticket?user=')).text, WON, 'an empty ?user= is anonymous')

  const expected = ['', '', 'a中b', EMOJI.repeat(128), '中'].sort()
  await waitFor(
    'the five orders in PostgreSQL',
    async () => (await pgUsers(srv, 'tix')).length >= 5,
  )
  t.strictSame(await pgUsers(srv, 'tix'), expected, 'PostgreSQL holds exactly these user ids')
  const after = await srv.state('tix')
  t.equal(after.sold, 5, 'sold agrees with PostgreSQL')
  t.same(after.users, { 中: '1', a中b: '1', [EMOJI.repeat(128)]: '1' }, 'per-user counts')
  t.equal(await srv.redis.xlen(saleKeys(srv.prefix, 'tix').dead), 0, 'no dead letter')
})
