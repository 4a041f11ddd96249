import type Redis from 'ioredis'
import { saleKeys } from '../keys'
import { callScript, nameOf } from './script-call'
import { settleOrderKeys } from './settle-order'

/** The gateway of native-lua/expireOrders-5.lua: the expiry sweep of one sale. */
const SCRIPT = 'expireOrders-5.lua'

/** Its refusals; a reply with no negative code is the counts of the sweep. */
export const EXPIRE_ORDERS_CODES = { [-6]: 'bad_request' } as const

export interface ExpireOrdersResult {
  readonly expired: number
  readonly unitsReturned: number
  /** past their deadline and not expired by this call: call again */
  readonly stillDue: number
}

/** KEYS of expireOrders-5.lua: the same keys, in the same order, as settleOrder-5.lua. */
export const expireOrdersKeys = settleOrderKeys

/** Expire at most `most` (1..1000) overdue orders; a refused argument is a fault and throws. */
export async function callExpireOrders(
  redis: Redis,
  prefix: string,
  saleId: string,
  most: number,
): Promise<ExpireOrdersResult> {
  const keys = expireOrdersKeys(saleKeys(prefix, saleId))
  const reply = (await callScript(redis, 'expireOrders', keys, [most])) as number[]
  const [expired = 0, unitsReturned = 0, stillDue = 0] = reply
  if (expired < 0)
    throw new Error(`${SCRIPT} answered ${nameOf(SCRIPT, EXPIRE_ORDERS_CODES, expired)}`)
  return { expired, unitsReturned, stillDue }
}
