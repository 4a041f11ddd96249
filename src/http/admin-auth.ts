import { timingSafeEqual } from 'node:crypto'
import type { HttpRequest } from '../uws'

/** `Authorization: Bearer <SECKILL_ADMIN_TOKEN>`, compared in constant time. */
export function isAdmin(req: HttpRequest, token: Buffer): boolean {
  const header = req.getHeader('authorization')
  if (!header.startsWith('Bearer ')) return false
  const given = Buffer.from(header.slice(7))
  return given.length === token.length && timingSafeEqual(given, token)
}
