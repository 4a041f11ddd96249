import type { Pool } from 'pg'
import { log } from '../src/log'
import { auditSale, driftKinds, hasDrift } from '../src/orders/reconcile'
import type { ScriptedRedis } from '../src/store/scripts'
import { drift } from './primary-metrics'

/**
 * Every RECONCILE_INTERVAL_MS, compares each sale's orders in Redis and PostgreSQL and publishes
 * the drift as the seckill_drift gauge, with a warning line per sale that drifts. Never repairs:
 * that is a decision for a person (`seckill reconcile --repair`).
 */
export async function reconcileOnce(
  redis: ScriptedRedis,
  pg: Pool,
  prefix: string,
  saleIds: () => Iterable<string>,
): Promise<void> {
  for (const saleId of [...saleIds()]) {
    const report = await auditSale(redis, pg, prefix, saleId)
    for (const [kind, n] of Object.entries(driftKinds(report))) drift.labels(saleId, kind).set(n)
    if (hasDrift(report)) {
      log.warn(
        {
          sale: saleId,
          drift: driftKinds(report),
          saleMissingInRedis: report.saleMissingInRedis,
        },
        'Redis and PostgreSQL disagree; see `seckill reconcile --sale <id>`',
      )
    }
  }
}
