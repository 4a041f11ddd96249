import { earliestScores } from '../earliest-scores'
import { saleKeys } from '../keys'
import type { RedisClient } from '../redis-client'
import { countsOf, runOnSale, saleScript } from './script-call'
import { SETTLE_ORDER } from './settle-order'

/**
 * The gateway of native-lua/expireOrders-5.lua: the expiry sweep of one sale. Its KEYS are those
 * of settleOrder-5.lua, in the same order. A reply with no negative code is the sweep's counts.
 */
export const EXPIRE_ORDERS = saleScript(
  'expireOrders-5.lua',
  { [-6]: 'bad_request' } as const,
  SETTLE_ORDER.keys,
  { rings: true },
)

export interface ExpireOrdersResult {
  readonly expired: number
  readonly unitsReturned: number
  /** past their deadline and not expired by this call: call again */
  readonly stillDue: number
}

/** Expire at most `most` (1..1000) overdue orders; a refused argument is a fault and throws. */
export async function callExpireOrders(
  redis: RedisClient,
  prefix: string,
  saleId: string,
  most: number,
): Promise<ExpireOrdersResult> {
  const reply = await runOnSale(redis, EXPIRE_ORDERS, prefix, saleId, [most])
  const [expired = 0, unitsReturned = 0, stillDue = 0] = countsOf(EXPIRE_ORDERS, reply)
  return { expired, unitsReturned, stillDue }
}

/**
 * The earliest payment deadline among each sale's reserved orders (Redis-clock ms), or null when
 * none is reserved: when the sweep needs to look at the sale again. Many sales in one round trip:
 * the expiry sweep's safety net looks at every sale this way instead of sweeping each one.
 */
export async function nextDeadlines(
  redis: RedisClient,
  prefix: string,
  saleIds: readonly string[],
): Promise<Map<string, number | null>> {
  return earliestScores(redis, saleIds, (id) => saleKeys(prefix, id).expiry)
}
