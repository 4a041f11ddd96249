import type { RedisClient } from '../redis-client'
import { nameOf, runOnSale, saleScript } from './script-call'

/**
 * The gateway of native-lua/recountSale-3.lua: repair a sale's counters from its orders. A reply
 * with no negative code is the repair's counts.
 */
export const RECOUNT_SALE = saleScript('recountSale-3.lua', { [-5]: 'not_found' } as const, (k) => [
  k.sale,
  k.users,
  k.orders,
])

export type RecountSaleResult =
  | {
      readonly outcome: 'recounted'
      readonly soldBefore: number
      readonly soldAfter: number
      /** users whose held units changed */
      readonly usersChanged: number
    }
  | { readonly outcome: 'not_found' }

export async function callRecountSale(
  redis: RedisClient,
  prefix: string,
  saleId: string,
): Promise<RecountSaleResult> {
  const reply = (await runOnSale(redis, RECOUNT_SALE, prefix, saleId, [])) as number[]
  const [soldBefore = -1, soldAfter = 0, usersChanged = 0] = reply
  if (soldBefore < 0) return { outcome: nameOf(RECOUNT_SALE, soldBefore) }
  return { outcome: 'recounted', soldBefore, soldAfter, usersChanged }
}
