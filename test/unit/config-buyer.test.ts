import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config'

/** The buyer-identity and rate-limit variables: validated once at start, bad ones named. */
const TOKEN = 'a-token-of-16+ch'
const SECRET = 's'.repeat(32)
const ED_PEM = generateKeyPairSync('ed25519')
  .publicKey.export({ type: 'spki', format: 'pem' })
  .toString()
const RSA_PEM = generateKeyPairSync('rsa', { modulusLength: 1024 })
  .publicKey.export({ type: 'spki', format: 'pem' })
  .toString()

function message(env: NodeJS.ProcessEnv): string {
  try {
    loadConfig({ SECKILL_ADMIN_TOKEN: TOKEN, ...env })
  } catch (err) {
    if (err instanceof ConfigError) return err.message
    throw err
  }
  throw new Error('loadConfig accepted a bad configuration')
}

t.test('signed identity with an HS256 secret of 32 bytes starts', async (t) => {
  const c = loadConfig({
    SECKILL_ADMIN_TOKEN: TOKEN,
    BUYER_IDENTITY: 'signed',
    BUYER_JWT_SECRET: SECRET,
    BUYER_JWT_ISSUER: 'https://login.example',
    BUYER_JWT_AUDIENCE: 'seckill',
    BUYER_JWT_LEEWAY_S: '30',
    BUYER_TOKEN_CACHE: '0',
  })
  t.equal(c.BUYER_IDENTITY, 'signed')
  t.equal(c.BUYER_JWT_SECRET, SECRET)
  t.equal(c.BUYER_JWT_ISSUER, 'https://login.example')
  t.equal(c.BUYER_JWT_AUDIENCE, 'seckill')
  t.equal(c.BUYER_JWT_LEEWAY_S, 30)
  t.equal(c.BUYER_TOKEN_CACHE, 0)
})

t.test('an Ed25519 public key is taken as PEM text or read from a path', async (t) => {
  const inline = loadConfig({
    SECKILL_ADMIN_TOKEN: TOKEN,
    BUYER_IDENTITY: 'signed',
    BUYER_JWT_PUBLIC_KEY: ED_PEM,
  })
  t.equal(inline.BUYER_JWT_PUBLIC_KEY, ED_PEM)
  const dir = mkdtempSync(join(tmpdir(), 'seckill-key-'))
  const path = join(dir, 'buyer.pem')
  writeFileSync(path, ED_PEM)
  const fromFile = loadConfig({
    SECKILL_ADMIN_TOKEN: TOKEN,
    BUYER_IDENTITY: 'signed',
    BUYER_JWT_PUBLIC_KEY: path,
  })
  t.equal(fromFile.BUYER_JWT_PUBLIC_KEY, ED_PEM, 'the file is read once, at start')
})

t.test('bad buyer-identity settings stop the start, naming the variable', async (t) => {
  const cases: [string, NodeJS.ProcessEnv, string][] = [
    ['an unknown mode', { BUYER_IDENTITY: 'trusted' }, 'BUYER_IDENTITY: BUYER_IDENTITY must be'],
    [
      'signed with no key',
      { BUYER_IDENTITY: 'signed' },
      'BUYER_IDENTITY: BUYER_IDENTITY=signed needs BUYER_JWT_SECRET or BUYER_JWT_PUBLIC_KEY',
    ],
    [
      'signed with both keys',
      { BUYER_IDENTITY: 'signed', BUYER_JWT_SECRET: SECRET, BUYER_JWT_PUBLIC_KEY: ED_PEM },
      'BUYER_JWT_PUBLIC_KEY: set only one of BUYER_JWT_SECRET and BUYER_JWT_PUBLIC_KEY',
    ],
    [
      'a secret shorter than 32 bytes',
      { BUYER_IDENTITY: 'signed', BUYER_JWT_SECRET: 's'.repeat(31) },
      'BUYER_JWT_SECRET: BUYER_JWT_SECRET must be at least 32 bytes',
    ],
    [
      'a public key that is not Ed25519',
      { BUYER_IDENTITY: 'signed', BUYER_JWT_PUBLIC_KEY: RSA_PEM },
      'BUYER_JWT_PUBLIC_KEY: BUYER_JWT_PUBLIC_KEY must be an Ed25519 public key',
    ],
    [
      'a path that does not exist',
      { BUYER_IDENTITY: 'signed', BUYER_JWT_PUBLIC_KEY: '/nonexistent/buyer.pem' },
      'BUYER_JWT_PUBLIC_KEY: BUYER_JWT_PUBLIC_KEY must be an Ed25519 public key',
    ],
    [
      'a key while identity is asserted',
      { BUYER_JWT_SECRET: SECRET },
      'BUYER_JWT_SECRET: BUYER_JWT_SECRET is set but BUYER_IDENTITY is asserted',
    ],
    [
      'a leeway above 300 s',
      { BUYER_IDENTITY: 'signed', BUYER_JWT_SECRET: SECRET, BUYER_JWT_LEEWAY_S: '301' },
      'BUYER_JWT_LEEWAY_S: BUYER_JWT_LEEWAY_S must be an integer in 0..300',
    ],
    [
      'a negative per-IP rate',
      { RATE_LIMIT_PER_IP: '-1' },
      'RATE_LIMIT_PER_IP: RATE_LIMIT_PER_IP must be an integer in 0..1000000',
    ],
  ]
  for (const [what, env, expected] of cases) {
    t.match(message(env), expected, what)
  }
})
