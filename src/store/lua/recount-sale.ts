import type Redis from 'ioredis'
import { type SaleKeys, saleKeys } from '../keys'
import { callScript, nameOf } from './script-call'

/** The gateway of native-lua/recountSale-3.lua: repair a sale's counters from its orders. */
const SCRIPT = 'recountSale-3.lua'

/** Its refusals; a reply with no negative code is the counts of the repair. */
export const RECOUNT_SALE_CODES = { [-5]: 'not_found' } as const

export type RecountSaleResult =
  | {
      readonly outcome: 'recounted'
      readonly soldBefore: number
      readonly soldAfter: number
      /** users whose held units changed */
      readonly usersChanged: number
    }
  | { readonly outcome: 'not_found' }

/** KEYS of recountSale-3.lua, in its header's order. */
export function recountSaleKeys(k: SaleKeys): string[] {
  return [k.sale, k.users, k.orders]
}

export async function callRecountSale(
  redis: Redis,
  prefix: string,
  saleId: string,
): Promise<RecountSaleResult> {
  const keys = recountSaleKeys(saleKeys(prefix, saleId))
  const [soldBefore = 0, soldAfter = 0, usersChanged = 0] = (await callScript(
    redis,
    'recountSale',
    keys,
    [],
  )) as number[]
  if (soldBefore < 0) return { outcome: nameOf(SCRIPT, RECOUNT_SALE_CODES, soldBefore) }
  return { outcome: 'recounted', soldBefore, soldAfter, usersChanged }
}
