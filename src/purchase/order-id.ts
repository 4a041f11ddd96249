import { randomFillSync } from 'node:crypto'

/**
 * Order ids: `<saleId>.<16 base64url chars>`. The random part makes them unguessable (pay and
 * cancel take only the id) and unique per attempt, which reserve-6.lua relies on to recognise a
 * command that ioredis re-sent after a reconnect. Random bytes come from one pooled buffer.
 */
const POOL = Buffer.allocUnsafe(12 * 256)
let offset = POOL.length

export function newOrderId(saleId: string): string {
  if (offset === POOL.length) {
    randomFillSync(POOL)
    offset = 0
  }
  const id = POOL.toString('base64url', offset, offset + 12)
  offset += 12
  return `${saleId}.${id}`
}
