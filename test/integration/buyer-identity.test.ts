import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import t from 'tap'
import { ordersOf, waitFor } from '../helpers/pg'
import { ADMIN_TOKEN, runToExit, type Server, startServer } from '../helpers/server'

/**
 * API.md "Buyer identity" with BUYER_IDENTITY=signed: the buyer is the `sub` of a JWT minted by
 * the operator's login system (here: fast-jwt, as any standard library would). Asserted ids in
 * the body, `?user=` and `X-User-Id` are ignored; a bad or missing token is 401 and changes
 * nothing; an order is the business of its owner and the admin only (anyone else: 404).
 */

const SECRET = randomBytes(32).toString('base64url')
const ed = generateKeyPairSync('ed25519')
const PUBLIC_PEM = ed.publicKey.export({ type: 'spki', format: 'pem' }).toString()
const PRIVATE_PEM = ed.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()

const exp = () => Math.floor(Date.now() / 1000) + 3600
const signHs = createSigner({ key: SECRET, algorithm: 'HS256' })
const signEd = createSigner({ key: PRIVATE_PEM, algorithm: 'EdDSA' })
const hs = (sub: unknown) => signHs({ sub, exp: exp() })
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

function buy(srv: Server, saleId: string, body: unknown, headers: Record<string, string> = {}) {
  return srv.http.request('POST', `/api/v1/sales/${saleId}/orders`, body, headers)
}

t.test('signed identity, HS256', async (t) => {
  const srv = await startServer(t, {
    workers: 2,
    env: { BUYER_IDENTITY: 'signed', BUYER_JWT_SECRET: SECRET, DEFAULT_SALE: 'tickets' },
  })

  t.test(
    'a missing, forged, expired or wrong-algorithm token is 401 and sells nothing',
    async (t) => {
      await srv.sale('guarded', { stock: 10, perUserLimit: 1 })
      await srv.sale('tickets', { stock: 10, perUserLimit: 1 })
      const e = exp()
      const header = (h: object) => Buffer.from(JSON.stringify(h)).toString('base64url')
      const refused: [string, Record<string, string>][] = [
        ['no token', {}],
        ['an empty bearer', { authorization: 'Bearer ' }],
        [
          'forged (another key)',
          bearer(createSigner({ key: 'k'.repeat(32) })({ sub: 'eve', exp: e })),
        ],
        ['expired', bearer(signHs({ sub: 'eve', exp: e - 7200 }))],
        ['alg none', bearer(`${header({ alg: 'none' })}.${header({ sub: 'eve', exp: e })}.`)],
        [
          'HS512',
          bearer(createSigner({ key: SECRET, algorithm: 'HS512' })({ sub: 'eve', exp: e })),
        ],
        ['EdDSA where HS256 is configured', bearer(signEd({ sub: 'eve', exp: e }))],
        ['a sub breaking the identifier rule', bearer(hs('a\u0001b'))],
        ['a sub of 129 characters', bearer(hs('x'.repeat(129)))],
        ['no exp', bearer(signHs({ sub: 'eve' }))],
        ['the admin token (it is not a buyer)', { authorization: `Bearer ${ADMIN_TOKEN}` }],
        ['a Basic credential', { authorization: 'Basic ZXZlOmV2ZQ==' }],
      ]
      for (const [what, headers] of refused) {
        const r = await buy(srv, 'guarded', { userId: 'eve' }, headers)
        t.equal(r.status, 401, `${what}: 401`)
        t.equal(r.json?.error, 'unauthorized', `${what}: unauthorized`)
        t.equal(typeof r.json?.detail, 'string', `${what}: with a detail`)
        const compat = await srv.http.request('GET', '/buy/ticket?user=eve', undefined, headers)
        t.equal(compat.status, 401, `${what}: /buy/ticket 401`)
        t.equal(
          compat.json?.error,
          'unauthorized',
          `${what}: /buy/ticket answers the API error shape`,
        )
      }
      for (const sale of ['guarded', 'tickets']) {
        const st = await srv.state(sale)
        t.equal(st.sold, 0, `${sale}: nothing sold`)
        t.equal(st.orders, 0, `${sale}: no order made`)
      }
    },
  )

  t.test('with a limit of 1, five asserted userIds under one token buy one unit', async (t) => {
    await srv.sale('limit1', { stock: 10, perUserLimit: 1 })
    const alice = bearer(hs('alice'))
    const replies = []
    for (const userId of ['u1', 'u2', 'u3', 'u4', 'u5']) {
      replies.push(await buy(srv, 'limit1', { userId }, alice))
    }
    replies.push(await buy(srv, 'limit1', {}, alice))
    const won = replies.filter((r) => r.status === 201)
    t.equal(won.length, 1, 'exactly one order')
    t.equal(won[0]?.json.userId, 'alice', "the order is the token's sub, not the body's userId")
    t.same(
      replies.filter((r) => r.status !== 201).map((r) => r.json?.error),
      ['limit_exceeded', 'limit_exceeded', 'limit_exceeded', 'limit_exceeded', 'limit_exceeded'],
      'every other attempt is limit_exceeded (a body without userId too)',
    )
    const st = await srv.state('limit1')
    t.same(st.users, { alice: '1' }, 'Redis counts the unit against alice alone')
    await waitFor(
      'the order in PostgreSQL',
      async () => (await ordersOf(srv.pg.pool, 'limit1')).length === 1,
    )
    const rows = await ordersOf(srv.pg.pool, 'limit1')
    t.same(
      rows.map((r) => r.user_id),
      ['alice'],
      "PostgreSQL's user_id is the token's sub",
    )
  })

  t.test('?user= and X-User-Id are ignored on /buy/ticket: the buyer is the sub', async (t) => {
    const r = await srv.http.request('GET', '/buy/ticket?user=mallory', undefined, {
      ...bearer(hs('carol')),
      'x-user-id': 'mallory',
    })
    t.equal(r.status, 200)
    t.equal(r.json?.code, 1, 'carol wins a ticket')
    const o = await srv.admin('GET', `/api/v1/orders/${r.json.data.orderId}`)
    t.equal(o.json?.userId, 'carol')
    const again = await srv.http.request(
      'GET',
      '/buy/ticket?user=someone-else',
      undefined,
      bearer(hs('carol')),
    )
    t.equal(again.json?.code, -1, 'carol again is over the limit of 1, whatever ?user= says')
  })

  t.test('only the owner or the admin may read, pay or cancel an order', async (t) => {
    await srv.sale('owned', { stock: 5, perUserLimit: 1 })
    const alice = bearer(hs('alice'))
    const bob = bearer(hs('bob'))
    const made = await buy(srv, 'owned', { userId: 'bob' }, alice)
    t.equal(made.status, 201)
    const id = made.json.orderId as string
    const path = `/api/v1/orders/${id}`

    const mine = await srv.http.request('GET', path, undefined, alice)
    t.equal(mine.status, 200, 'the owner can read it')
    t.equal(mine.json.userId, 'alice')

    for (const [method, p] of [
      ['GET', path],
      ['POST', `${path}/pay`],
      ['POST', `${path}/cancel`],
    ] as const) {
      const r = await srv.http.request(method, p, undefined, bob)
      t.equal(r.status, 404, `another buyer: ${method} ${p.slice(path.length) || '/'} is 404`)
      t.equal(r.json?.error, 'not_found', 'not_found: its existence is not revealed')
      const anon = await srv.http.request(method, p)
      t.equal(anon.status, 401, `no token: ${method} is 401`)
      const forged = await srv.http.request(method, p, undefined, bearer(`${hs('alice')}x`))
      t.equal(forged.status, 401, `a forged token: ${method} is 401`)
    }
    const unknown = await srv.http.request(
      'GET',
      '/api/v1/orders/owned.nosuchorder0000',
      undefined,
      bob,
    )
    t.equal(unknown.status, 404, 'an unknown order is the same 404')

    const asAdmin = await srv.admin('GET', path)
    t.equal(asAdmin.status, 200, 'the admin can read it')
    t.equal(asAdmin.json.status, 'reserved', "bob's pay and cancel changed nothing")

    const paid = await srv.http.request('POST', `${path}/pay`, undefined, alice)
    t.equal(paid.status, 200, 'the owner can pay it')
    t.equal(paid.json.status, 'paid')
    const st = await srv.state('owned')
    t.equal(st.sold, 1, 'one unit sold')
  })

  t.test("the owner can cancel; the admin can cancel anyone's order", async (t) => {
    await srv.sale('cancel', { stock: 5, perUserLimit: 1 })
    const a = await buy(srv, 'cancel', {}, bearer(hs('dora')))
    const b = await buy(srv, 'cancel', {}, bearer(hs('erin')))
    t.equal(a.status, 201)
    t.equal(b.status, 201)
    const own = await srv.http.request(
      'POST',
      `/api/v1/orders/${a.json.orderId}/cancel`,
      undefined,
      bearer(hs('dora')),
    )
    t.equal(own.json?.status, 'cancelled', 'the owner cancelled')
    const byAdmin = await srv.admin('POST', `/api/v1/orders/${b.json.orderId}/cancel`)
    t.equal(byAdmin.json?.status, 'cancelled', 'the admin cancelled')
  })
})

t.test('signed identity, EdDSA (Ed25519 public key)', async (t) => {
  const srv = await startServer(t, {
    workers: 2,
    env: { BUYER_IDENTITY: 'signed', BUYER_JWT_PUBLIC_KEY: PUBLIC_PEM },
  })
  await srv.sale('ed', { stock: 5, perUserLimit: 1 })
  const ok = await buy(
    srv,
    'ed',
    { userId: 'ignored' },
    bearer(signEd({ sub: 'frank', exp: exp() })),
  )
  t.equal(ok.status, 201, 'an EdDSA token buys')
  t.equal(ok.json.userId, 'frank')
  const hsToken = await buy(srv, 'ed', {}, bearer(hs('gina')))
  t.equal(hsToken.status, 401, 'an HS256 token is refused where EdDSA is configured')
  // The algorithm-confusion attack: HS256 with the public key as the HMAC secret.
  const confused = createSigner({ key: PUBLIC_PEM, algorithm: 'HS256' })({
    sub: 'gina',
    exp: exp(),
  })
  t.equal(
    (await buy(srv, 'ed', {}, bearer(confused))).status,
    401,
    'public key as HMAC secret: 401',
  )
  const expired = signEd({ sub: 'gina', exp: Math.floor(Date.now() / 1000) - 3600 })
  t.equal((await buy(srv, 'ed', {}, bearer(expired))).status, 401, 'an expired EdDSA token: 401')
  await waitFor(
    'the order in PostgreSQL',
    async () => (await ordersOf(srv.pg.pool, 'ed')).length === 1,
  )
  t.same(
    (await ordersOf(srv.pg.pool, 'ed')).map((r) => r.user_id),
    ['frank'],
    "PostgreSQL's user_id is the sub",
  )
  t.equal((await srv.state('ed')).sold, 1, 'only the valid token bought')
})

t.test('a bad buyer-identity setting stops the start, naming the variable', async (t) => {
  const r = await runToExit({ BUYER_IDENTITY: 'signed', BUYER_JWT_SECRET: 'short' })
  t.equal(r.code, 2, 'exit code 2')
  t.match(r.out, 'BUYER_JWT_SECRET must be at least 32 bytes')
})
