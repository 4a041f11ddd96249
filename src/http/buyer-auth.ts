import type { BuyerTokens, TokenRefusal } from '../buyer-token'
import { ERRORS } from '../errors'
import type { HttpRequest, HttpResponse } from '../uws'
import { isAdmin } from './admin-auth'
import { JSON_TYPE } from './respond'

/**
 * Who is asking, when BUYER_IDENTITY=signed. Buyer tokens and the admin token both arrive as
 * `Authorization: Bearer …`: the order routes compare against the admin token first, in constant
 * time, and only then verify the credential as a buyer JWT; the purchase routes take a buyer JWT
 * only (the admin buys nothing).
 */

/** `Bearer ` in any case (RFC 7235: the scheme is case-insensitive), then the credential. */
const BEARER = /^bearer +/i

/** The bearer credential of the request, or '' when there is none. Read it before any await. */
export function bearerOf(req: HttpRequest): string {
  const header = req.getHeader('authorization')
  const m = BEARER.exec(header)
  return m === null ? '' : header.slice(m[0].length).trim()
}

/** On an order route: the admin, a buyer, or a request to refuse with 401. */
export type Caller =
  | { readonly kind: 'admin' }
  | { readonly kind: 'buyer'; readonly userId: string }
  | { readonly kind: 'refused'; readonly refused: TokenRefusal }

const ADMIN: Caller = Object.freeze({ kind: 'admin' })

export function callerOf(req: HttpRequest, tokens: BuyerTokens, adminToken: Buffer): Caller {
  if (isAdmin(req, adminToken)) return ADMIN
  const v = tokens.verify(bearerOf(req))
  return v.userId === null
    ? { kind: 'refused', refused: v.refused ?? 'invalid' }
    : { kind: 'buyer', userId: v.userId }
}

/** Whether `caller` may see or change an order of `owner`; null = asserted identity: anyone. */
export function mayTouch(caller: Caller | null, owner: string): boolean {
  return (
    caller === null ||
    caller.kind === 'admin' ||
    (caller.kind === 'buyer' && caller.userId === owner)
  )
}

const DETAIL: Readonly<Record<TokenRefusal, string>> = {
  missing: 'a buyer token is required: Authorization: Bearer <JWT>',
  invalid: 'the buyer token is not valid',
  expired: 'the buyer token has expired',
}

/** Pre-built: a storm of bad tokens costs no JSON encoding. */
const BODIES: Readonly<Record<TokenRefusal, Buffer>> = Object.freeze({
  missing: Buffer.from(JSON.stringify({ error: 'unauthorized', detail: DETAIL.missing })),
  invalid: Buffer.from(JSON.stringify({ error: 'unauthorized', detail: DETAIL.invalid })),
  expired: Buffer.from(JSON.stringify({ error: 'unauthorized', detail: DETAIL.expired })),
})

/** 401 `unauthorized` in the API error shape, synchronously (inside a handler or a cork). */
export function writeUnauthorized(res: HttpResponse, why: TokenRefusal): void {
  res
    .writeStatus(ERRORS.unauthorized.status)
    .writeHeader('Content-Type', JSON_TYPE)
    // RFC 6750 §3: a 401 for a bearer-protected resource names the scheme.
    .writeHeader('WWW-Authenticate', why === 'missing' ? 'Bearer' : 'Bearer error="invalid_token"')
    .end(BODIES[why])
}
