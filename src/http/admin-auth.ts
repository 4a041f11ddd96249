import { timingSafeEqual } from 'node:crypto'
import type { HttpRequest } from '../uws'

/** RFC 7235 §2.1: the scheme is case-insensitive, then one or more spaces before the token. */
const BEARER = /^bearer +/i

/** `Authorization: Bearer <SECKILL_ADMIN_TOKEN>`, compared in constant time. */
export function isAdmin(req: HttpRequest, token: Buffer): boolean {
  const header = req.getHeader('authorization')
  const scheme = BEARER.exec(header)
  if (scheme === null) return false
  const given = Buffer.from(header.slice(scheme[0].length))
  return given.length === token.length && timingSafeEqual(given, token)
}
