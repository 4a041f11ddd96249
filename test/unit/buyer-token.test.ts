import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import t from 'tap'
import { type BuyerTokenOptions, BuyerTokens } from '../../src/buyer-token'

/**
 * Signed buyer identity (API.md "Buyer identity"): the buyer is the `sub` of a JWT the operator's
 * login system minted, checked here with a standard library (fast-jwt). Pure: no I/O.
 */

const SECRET = randomBytes(32).toString('base64url')
const ed = generateKeyPairSync('ed25519')
const PUBLIC_PEM = ed.publicKey.export({ type: 'spki', format: 'pem' }).toString()
const PRIVATE_PEM = ed.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()

const inAnHour = () => Math.floor(Date.now() / 1000) + 3600
const hs256 = (claims: Record<string, unknown>, key = SECRET) =>
  createSigner({ key, algorithm: 'HS256' })(claims)
const eddsa = (claims: Record<string, unknown>) =>
  createSigner({ key: PRIVATE_PEM, algorithm: 'EdDSA' })(claims)

function tokens(opts: Partial<BuyerTokenOptions> = {}): BuyerTokens {
  return new BuyerTokens({ secret: SECRET, leewaySeconds: 5, cacheSize: 100, ...opts })
}

t.test('a valid HS256 token names its sub as the buyer', async (t) => {
  const v = tokens().verify(hs256({ sub: 'alice', exp: inAnHour() }))
  t.equal(v.userId, 'alice')
  t.equal(v.refused, null)
})

t.test('a valid EdDSA (Ed25519) token names its sub as the buyer', async (t) => {
  const v = tokens({ secret: undefined, publicKey: PUBLIC_PEM }).verify(
    eddsa({ sub: 'bob', exp: inAnHour() }),
  )
  t.equal(v.userId, 'bob')
})

t.test('every token that is not a valid buyer token is refused, with a reason', async (t) => {
  const hs = tokens()
  const edv = tokens({ secret: undefined, publicKey: PUBLIC_PEM })
  const exp = inAnHour()
  const header = (h: object) => Buffer.from(JSON.stringify(h)).toString('base64url')
  const unsigned = `${header({ alg: 'none', typ: 'JWT' })}.${header({ sub: 'eve', exp })}.`
  const cases: [string, BuyerTokens, string, string][] = [
    ['no token at all', hs, '', 'missing'],
    ['not a JWT', hs, 'not-a-jwt', 'invalid'],
    [
      'signed with another secret (forged)',
      hs,
      hs256({ sub: 'eve', exp }, 'x'.repeat(32)),
      'invalid',
    ],
    ['expired an hour ago', hs, hs256({ sub: 'eve', exp: exp - 7200 }), 'expired'],
    ['without exp', hs, hs256({ sub: 'eve' }), 'invalid'],
    ['without sub', hs, hs256({ exp }), 'invalid'],
    ['with a sub that is not a string', hs, hs256({ sub: 42, exp }), 'invalid'],
    ['with a sub breaking the identifier rule', hs, hs256({ sub: 'a\u0000b', exp }), 'invalid'],
    ['with a sub of 129 characters', hs, hs256({ sub: 'x'.repeat(129), exp }), 'invalid'],
    ['with an empty sub', hs, hs256({ sub: '', exp }), 'invalid'],
    ['alg none', hs, unsigned, 'invalid'],
    [
      'HS512 where HS256 is expected',
      hs,
      createSigner({ key: SECRET, algorithm: 'HS512' })({ sub: 'eve', exp }),
      'invalid',
    ],
    ['an HS256 token where EdDSA is expected', edv, hs256({ sub: 'eve', exp }), 'invalid'],
    // The classic algorithm confusion: the public key used as an HMAC secret.
    ['HS256 keyed with the public key', edv, hs256({ sub: 'eve', exp }, PUBLIC_PEM), 'invalid'],
    ['an EdDSA token where HS256 is expected', hs, eddsa({ sub: 'eve', exp }), 'invalid'],
    ['not yet valid (nbf in an hour)', hs, hs256({ sub: 'eve', exp, nbf: exp }), 'invalid'],
  ]
  for (const [what, verifier, token, reason] of cases) {
    const v = verifier.verify(token)
    t.equal(v.userId, null, `${what}: no buyer`)
    t.equal(v.refused, reason, `${what}: ${reason}`)
  }
})

t.test('a token expired by less than the leeway is still accepted', async (t) => {
  const now = Math.floor(Date.now() / 1000)
  t.equal(tokens({ leewaySeconds: 30 }).verify(hs256({ sub: 'al', exp: now - 10 })).userId, 'al')
  t.equal(
    tokens({ leewaySeconds: 0 }).verify(hs256({ sub: 'al', exp: now - 10 })).refused,
    'expired',
  )
})

t.test('issuer and audience, when configured, must match', async (t) => {
  const v = tokens({ issuer: 'https://login.example', audience: 'seckill' })
  const exp = inAnHour()
  t.equal(
    v.verify(hs256({ sub: 'a', exp, iss: 'https://login.example', aud: 'seckill' })).userId,
    'a',
  )
  t.equal(
    v.verify(hs256({ sub: 'a', exp, iss: 'https://evil', aud: 'seckill' })).refused,
    'invalid',
  )
  t.equal(v.verify(hs256({ sub: 'a', exp, aud: 'seckill' })).refused, 'invalid', 'iss missing')
  t.equal(
    v.verify(hs256({ sub: 'a', exp, iss: 'https://login.example', aud: 'other' })).refused,
    'invalid',
  )
})

t.test('a verified token is cached until its exp, then refused as expired', async (t) => {
  let clock = Date.now()
  const v = tokens({ leewaySeconds: 0, now: () => clock })
  const exp = Math.floor(clock / 1000) + 60
  const token = hs256({ sub: 'carol', exp })
  t.equal(v.verify(token).userId, 'carol')
  t.equal(v.cached, 1, 'kept after the first verification')
  t.equal(v.verify(token).userId, 'carol', 'answered again')
  clock = exp * 1000 + 1
  t.equal(v.verify(token).refused, 'expired', 'past its exp the cached entry does not answer')
})

t.test('refused tokens are not cached, and the cache stays within its bound', async (t) => {
  const v = tokens({ cacheSize: 10 })
  const exp = inAnHour()
  v.verify(hs256({ sub: 'eve', exp }, 'y'.repeat(32)))
  t.equal(v.cached, 0)
  for (let i = 0; i < 1000; i++) v.verify(hs256({ sub: `u${i}`, exp: exp + i }))
  t.ok(v.cached <= 20, `at most two generations of 10 kept (${v.cached})`)
  t.ok(v.cached > 0)
})

t.test('with cacheSize 0 nothing is cached and every token is verified', async (t) => {
  const v = tokens({ cacheSize: 0 })
  const token = hs256({ sub: 'dan', exp: inAnHour() })
  t.equal(v.verify(token).userId, 'dan')
  t.equal(v.verify(token).userId, 'dan')
  t.equal(v.cached, 0)
})
