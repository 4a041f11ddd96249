import type { Pool } from 'pg'
import { log } from '../src/log'
import { auditSale, driftKinds, hasDrift } from '../src/orders/reconcile'
import type { ScriptedRedis } from '../src/store/scripts'
import { Periodic } from './periodic'
import { drift } from './primary-metrics'

/**
 * Every RECONCILE_INTERVAL_MS, compares each sale's orders in Redis and PostgreSQL and publishes
 * the drift as the seckill_drift gauge, with a warning line per sale that drifts. Never repairs:
 * that is a decision for a person (`seckill reconcile --repair`).
 */
export class ReconcileJob {
  private readonly periodic: Periodic

  constructor(
    private readonly redis: ScriptedRedis,
    private readonly pg: Pool,
    private readonly prefix: string,
    everyMs: number,
    private readonly saleIds: () => Iterable<string>,
  ) {
    this.periodic = new Periodic(everyMs, 'reconciliation', () => this.runOnce())
  }

  start(): void {
    this.periodic.start()
  }

  stop(): Promise<void> {
    return this.periodic.stop()
  }

  async runOnce(): Promise<void> {
    for (const saleId of [...this.saleIds()]) {
      const report = await auditSale(this.redis, this.pg, this.prefix, saleId)
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
}
