import type { RedisClient } from '../redis-client'
import { nameOf, type OutcomeOf, runOnSale, saleScript } from './script-call'

/** The gateway of native-lua/setSaleState-1.lua: start or close a sale by hand. */
export const SET_SALE_STATE = saleScript(
  'setSaleState-1.lua',
  { 0: 'ok', [-4]: 'closed', [-5]: 'not_found', [-6]: 'bad_request' } as const,
  (k): [sale: string] => [k.sale],
  { rings: true },
)

export type SetSaleStateOutcome = OutcomeOf<typeof SET_SALE_STATE>

export async function callSetSaleState(
  redis: RedisClient,
  prefix: string,
  saleId: string,
  action: 'start' | 'close',
): Promise<SetSaleStateOutcome> {
  return nameOf(SET_SALE_STATE, await runOnSale(redis, SET_SALE_STATE, prefix, saleId, [action]))
}
