import { callExpireOrders } from '../src/store/lua/expire-orders'
import type { ScriptedRedis } from '../src/store/scripts'
import { ordersExpired, unitsReturned } from './primary-metrics'

/**
 * Every SWEEP_MS, expires the reserved orders whose payment deadline has passed (Redis clock),
 * sale by sale, with expireOrders-5.lua: each order's units go back on sale exactly once, even
 * with every node of a deployment sweeping at the same time. A sale that got units back is
 * re-read at once, so the workers' sold-out flags clear and the quota flows again.
 */
const PER_CALL = 500

/** One pass over every sale; returns the units returned, per sale. */
export async function sweepOnce(
  redis: ScriptedRedis,
  prefix: string,
  saleIds: () => Iterable<string>,
  onReturned: (saleId: string) => void,
): Promise<Map<string, number>> {
  const returned = new Map<string, number>()
  for (const saleId of [...saleIds()]) {
    let units = 0
    for (;;) {
      const r = await callExpireOrders(redis, prefix, saleId, PER_CALL)
      ordersExpired.inc(r.expired)
      units += r.unitsReturned
      if (r.stillDue === 0) break
    }
    if (units > 0) {
      unitsReturned.inc(units)
      returned.set(saleId, units)
      onReturned(saleId)
    }
  }
  return returned
}
