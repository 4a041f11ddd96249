import { createVerifier, TokenError } from 'fast-jwt'
import type { Config } from './config'
import { isIdentifier } from './identifier'

/**
 * Signed buyer identity (API.md "Buyer identity"): the buyer is the `sub` of a JWT minted by the
 * operator's login system, HS256 (shared secret) or EdDSA (Ed25519 public key), `exp` required.
 * Checked in the worker with fast-jwt, synchronously and without any Redis call: it runs on the
 * purchase path. Pure: no I/O.
 */

/** Why a request has no buyer: no token, a token that is not valid, or one past its exp. */
export type TokenRefusal = 'missing' | 'invalid' | 'expired'

/**
 * The answer for one token. One shape for both outcomes (V8 keeps one hidden class): `userId`
 * is the buyer, or null with `refused` saying why.
 */
export interface Verdict {
  readonly userId: string | null
  readonly refused: TokenRefusal | null
  /** epoch ms after which the token is expired (exp + leeway); 0 for a refusal */
  readonly untilMs: number
}

export interface BuyerTokenOptions {
  /** HS256 shared secret; exactly one of secret and publicKey */
  readonly secret?: string
  /** PEM of an Ed25519 public key (EdDSA) */
  readonly publicKey?: string
  readonly issuer?: string
  readonly audience?: string
  /** clock skew allowed on exp and nbf */
  readonly leewaySeconds: number
  /** verified tokens kept, per generation (0: none) */
  readonly cacheSize: number
  /** epoch ms; the cache's clock (fast-jwt reads Date.now itself) */
  readonly now?: () => number
}

const REFUSED: Readonly<Record<TokenRefusal, Verdict>> = Object.freeze({
  missing: Object.freeze({ userId: null, refused: 'missing', untilMs: 0 }),
  invalid: Object.freeze({ userId: null, refused: 'invalid', untilMs: 0 }),
  expired: Object.freeze({ userId: null, refused: 'expired', untilMs: 0 }),
})

/** Longest token looked at: a login system's JWT is a few hundred bytes; header limits do the rest. */
const MAX_TOKEN = 4096

export class BuyerTokens {
  private readonly check: (token: string) => Record<string, unknown>
  private readonly leewayMs: number
  private readonly cacheSize: number
  private readonly now: () => number
  /**
   * Two generations of verified tokens, keyed by the token string itself (a Map lookup hashes
   * it natively: far cheaper than the SHA-2 fast-jwt's own cache computes per lookup). When
   * `young` is full it becomes `old` and the previous `old` is dropped; a hit in `old` moves
   * back to `young`. So memory is at most 2 × cacheSize entries and a buyer pressing "buy"
   * again stays cached — an LRU's effect without its per-hit bookkeeping.
   */
  private young = new Map<string, Verdict>()
  private old = new Map<string, Verdict>()

  constructor(opts: BuyerTokenOptions) {
    if ((opts.secret === undefined) === (opts.publicKey === undefined)) {
      throw new Error('BuyerTokens needs exactly one of secret and publicKey')
    }
    this.leewayMs = opts.leewaySeconds * 1000
    this.cacheSize = opts.cacheSize
    this.now = opts.now ?? Date.now
    // One algorithm per deployment, fixed here, never taken from the token's header: that is
    // what makes `alg: none` and HS256-keyed-with-the-public-key tokens fail.
    this.check = createVerifier({
      key: (opts.secret ?? opts.publicKey)!,
      algorithms: opts.secret !== undefined ? ['HS256'] : ['EdDSA'],
      requiredClaims: [
        'exp',
        'sub',
        ...(opts.issuer !== undefined ? ['iss'] : []),
        ...(opts.audience !== undefined ? ['aud'] : []),
      ],
      ...(opts.issuer !== undefined ? { allowedIss: opts.issuer } : {}),
      ...(opts.audience !== undefined ? { allowedAud: opts.audience } : {}),
      clockTolerance: this.leewayMs,
    }) as (token: string) => Record<string, unknown>
  }

  /** Verified tokens held (both generations). */
  get cached(): number {
    return this.young.size + this.old.size
  }

  /** The buyer a token names, or why it names none. `token` is the bearer credential, or ''. */
  verify(token: string): Verdict {
    if (token === '') return REFUSED.missing
    if (token.length > MAX_TOKEN) return REFUSED.invalid
    if (this.cacheSize > 0) {
      let hit = this.young.get(token)
      if (hit === undefined) {
        hit = this.old.get(token)
        if (hit !== undefined) this.keep(token, hit)
      }
      if (hit !== undefined) return this.now() <= hit.untilMs ? hit : REFUSED.expired
    }
    let claims: Record<string, unknown>
    try {
      claims = this.check(token)
    } catch (err) {
      return err instanceof TokenError && err.code === TokenError.codes.expired
        ? REFUSED.expired
        : REFUSED.invalid
    }
    const sub = claims.sub
    // The sub becomes the order's user_id: the same rule as an asserted userId.
    if (typeof sub !== 'string' || !isIdentifier(sub)) return REFUSED.invalid
    const v: Verdict = {
      userId: sub,
      refused: null,
      untilMs: (claims.exp as number) * 1000 + this.leewayMs,
    }
    if (this.cacheSize > 0) this.keep(token, v)
    return v
  }

  private keep(token: string, v: Verdict): void {
    if (this.young.size >= this.cacheSize) {
      this.old = this.young
      this.young = new Map()
    }
    this.young.set(token, v)
  }
}

/** The verifier the configuration asks for, or null when identity is asserted. */
export function buyerTokens(config: Config): BuyerTokens | null {
  if (config.BUYER_IDENTITY !== 'signed') return null
  return new BuyerTokens({
    secret: config.BUYER_JWT_SECRET,
    publicKey: config.BUYER_JWT_PUBLIC_KEY,
    issuer: config.BUYER_JWT_ISSUER,
    audience: config.BUYER_JWT_AUDIENCE,
    leewaySeconds: config.BUYER_JWT_LEEWAY_S,
    cacheSize: config.BUYER_TOKEN_CACHE,
  })
}
