import { earliestScores } from '../src/store/earliest-scores'
import { saleKeys } from '../src/store/keys'
import { callPruneOrders } from '../src/store/lua/prune-orders'
import type { ScriptedRedis } from '../src/store/scripts'
import { ordersPruned } from './primary-metrics'

/**
 * Keeps Redis's memory bounded by the live orders: cancelled and expired orders that PostgreSQL
 * holds are forgotten in Redis ORDER_RETENTION_S after they became final (pruneOrders-3.lua),
 * with their idempotency entries. Within that period a replay with the same Idempotency-Key still
 * answers the order; after it, GET, pay and cancel answer from PostgreSQL.
 */
const PER_CALL = 500

/**
 * How often to prune: a tenth of the retention keeps the overshoot small; never more often than
 * once a second (each pass is one cheap call per sale) nor less than once a minute. 0 (keep every
 * order) never prunes.
 */
export function pruneEveryMs(retentionMs: number): number {
  return retentionMs === 0 ? 0 : Math.min(60000, Math.max(1000, retentionMs / 10))
}

/**
 * One pass: every sale's oldest final order is read in one round trip, and only the sales with
 * one past the retention (by `now`, the Redis clock) are pruned; returns how many orders were
 * forgotten. The script checks the retention itself with Redis's TIME: a clock read here that is
 * a little off only moves the pass that prunes an order, never what it prunes.
 */
export async function pruneOnce(
  redis: ScriptedRedis,
  prefix: string,
  retentionMs: number,
  saleIds: () => Iterable<string>,
  now: () => number,
): Promise<number> {
  const oldest = await earliestScores(redis, [...saleIds()], (id) => saleKeys(prefix, id).final)
  const cutoff = now() - retentionMs
  let total = 0
  for (const [saleId, finalAt] of oldest) {
    if (finalAt === null || finalAt > cutoff) continue
    for (;;) {
      const r = await callPruneOrders(redis, prefix, saleId, retentionMs, PER_CALL)
      total += r.forgotten
      if (r.stillDue === 0) break
    }
  }
  ordersPruned.inc(total)
  return total
}
