import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { availableParallelism, cpus } from 'node:os'
import { createSigner, createVerifier } from 'fast-jwt'
import { BuyerTokens } from '../src/buyer-token'

/**
 * Micro-benchmark of signed buyer identity (src/buyer-token.ts): verifications per second on one
 * core, HS256 and EdDSA, with the worker's token cache off (every request pays the signature
 * check) and on (a buyer pressing "buy" again), beside fast-jwt's own hashed-key cache.
 *
 *   npm run build && node dist/bench/jwt-verify.js [ms per case, default 2000]
 *
 * Each token is handed over as a fresh string copied from bytes, as uWS's getHeader gives it,
 * so a cache hit pays the string hashing a real request pays. The first line is that copy alone.
 */
const MS = Number(process.argv[2] ?? 2000)
const USERS = 1000

const secret = randomBytes(32).toString('base64url')
const ed = generateKeyPairSync('ed25519')
const publicPem = ed.publicKey.export({ type: 'spki', format: 'pem' }).toString()
const privatePem = ed.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
const exp = Math.floor(Date.now() / 1000) + 3600

function mint(sign: (claims: object) => string): Buffer[] {
  return Array.from({ length: USERS }, (_, i) => Buffer.from(sign({ sub: `user-${i}`, exp })))
}
const hsTokens = mint(createSigner({ key: secret, algorithm: 'HS256' }))
const edTokens = mint(createSigner({ key: privatePem, algorithm: 'EdDSA' }))

let sink = 0

/** Calls of `verify` per second over MS milliseconds, cycling through `tokens`. */
function rate(tokens: Buffer[], verify: (token: string) => unknown): number {
  for (let i = 0; i < 2000; i++) verify(tokens[i % tokens.length]!.toString('latin1'))
  let n = 0
  const start = process.hrtime.bigint()
  let elapsed = 0
  while (elapsed < MS) {
    for (let i = 0; i < 500; i++) {
      if (verify(tokens[(n + i) % tokens.length]!.toString('latin1')) !== undefined) sink++
    }
    n += 500
    elapsed = Number(process.hrtime.bigint() - start) / 1e6
  }
  return (n / elapsed) * 1000
}

function row(name: string, perSecond: number): void {
  console.log(`${name.padEnd(44)} ${Math.round(perSecond).toLocaleString('en-US').padStart(12)} /s`)
}

const buyer = (opts: { secret?: string; publicKey?: string }, cacheSize: number) =>
  new BuyerTokens({ ...opts, leewaySeconds: 5, cacheSize })
const viaBuyer = (b: BuyerTokens) => (t: string) => b.verify(t).userId ?? undefined
const claims = { requiredClaims: ['exp', 'sub'], clockTolerance: 5000 }

console.log(
  `node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model ?? '?'}), ` +
    `${USERS} distinct tokens, ${MS} ms per case, one thread`,
)
row(
  'header copy only (baseline)',
  rate(hsTokens, (t) => t.length),
)
row('HS256, no cache', rate(hsTokens, viaBuyer(buyer({ secret }, 0))))
row('HS256, worker cache (hit)', rate(hsTokens, viaBuyer(buyer({ secret }, 10000))))
row(
  'HS256, fast-jwt cache (hashed key, hit)',
  rate(hsTokens, createVerifier({ key: secret, algorithms: ['HS256'], cache: 10000, ...claims })),
)
row('EdDSA, no cache', rate(edTokens, viaBuyer(buyer({ publicKey: publicPem }, 0))))
row('EdDSA, worker cache (hit)', rate(edTokens, viaBuyer(buyer({ publicKey: publicPem }, 10000))))
row(
  'EdDSA, fast-jwt cache (hashed key, hit)',
  rate(
    edTokens,
    createVerifier({ key: publicPem, algorithms: ['EdDSA'], cache: 10000, ...claims }),
  ),
)
if (sink === 0) console.log('(no token verified: the benchmark is broken)')
