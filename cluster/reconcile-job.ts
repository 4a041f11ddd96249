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
export class ReconcileJob {
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> | null = null

  constructor(
    private readonly redis: ScriptedRedis,
    private readonly pg: Pool,
    private readonly prefix: string,
    private readonly everyMs: number,
    private readonly saleIds: () => Iterable<string>,
  ) {}

  start(): void {
    if (this.everyMs === 0) return
    this.timer = setInterval(() => {
      if (this.running) return
      this.running = this.runOnce()
        .catch((err: Error) => log.warn({ err: err.message }, 'reconciliation failed; will retry'))
        .finally(() => {
          this.running = null
        })
    }, this.everyMs)
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    await this.running
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
