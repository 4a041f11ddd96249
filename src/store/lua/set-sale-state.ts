import type Redis from 'ioredis'
import { type SaleKeys, saleKeys } from '../keys'
import { callScript, nameOf } from './script-call'

/** The gateway of native-lua/setSaleState-1.lua: start or close a sale by hand. */
const SCRIPT = 'setSaleState-1.lua'

export const SET_SALE_STATE_CODES = {
  0: 'ok',
  [-4]: 'closed',
  [-5]: 'not_found',
  [-6]: 'bad_request',
} as const

export type SetSaleStateOutcome = (typeof SET_SALE_STATE_CODES)[keyof typeof SET_SALE_STATE_CODES]

/** KEYS of setSaleState-1.lua, in its header's order. */
export function setSaleStateKeys(k: SaleKeys): [sale: string] {
  return [k.sale]
}

export async function callSetSaleState(
  redis: Redis,
  prefix: string,
  saleId: string,
  action: 'start' | 'close',
): Promise<SetSaleStateOutcome> {
  const keys = setSaleStateKeys(saleKeys(prefix, saleId))
  return nameOf(
    SCRIPT,
    SET_SALE_STATE_CODES,
    await callScript(redis, 'setSaleState', keys, [action]),
  )
}
