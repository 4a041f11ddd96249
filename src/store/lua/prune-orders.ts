import type { RedisClient } from '../redis-client'
import { countsOf, runOnSale, saleScript } from './script-call'

/**
 * The gateway of native-lua/pruneOrders-3.lua: forget final orders PostgreSQL holds. A reply
 * with no negative code is the call's counts.
 */
export const PRUNE_ORDERS = saleScript(
  'pruneOrders-3.lua',
  { [-6]: 'bad_request' } as const,
  (k) => [k.final, k.orders, k.idem],
)

export interface PruneOrdersResult {
  readonly forgotten: number
  /** final long enough and not forgotten by this call: call again */
  readonly stillDue: number
}

/** Forget at most `most` (1..1000) orders final for `retentionMs`; a refusal throws (a fault). */
export async function callPruneOrders(
  redis: RedisClient,
  prefix: string,
  saleId: string,
  retentionMs: number,
  most: number,
): Promise<PruneOrdersResult> {
  const reply = await runOnSale(redis, PRUNE_ORDERS, prefix, saleId, [retentionMs, most])
  const [forgotten = 0, stillDue = 0] = countsOf(PRUNE_ORDERS, reply)
  return { forgotten, stillDue }
}
