import type { Pool } from 'pg'
import { log } from '../src/log'
import { auditSale, driftKinds, hasDrift } from '../src/orders/reconcile'
import type { BellListener } from '../src/store/sale-bell'
import type { ScriptedRedis } from '../src/store/scripts'
import { drift } from './primary-metrics'

/**
 * Every RECONCILE_INTERVAL_MS, compares sales' orders in Redis and PostgreSQL and publishes the
 * drift as the seckill_drift gauge, with a warning line per sale that drifts. Never repairs:
 * that is a decision for a person (`seckill reconcile --repair`).
 *
 * A pass audits only the sales that may have changed since their last audit: those whose bell
 * rang (an order made or changed, the sale changed: src/store/sale-bell.ts), those that drifted
 * or could not be read last time, and every sale after the bell's subscriber reconnected. A sale
 * that is over and audited clean costs nothing more (an audit reads all of its orders on both
 * sides). Every FULL_AUDIT_EVERY passes every sale is audited: what no bell tells of (a row
 * changed in PostgreSQL by hand, a missed bell) shows within that many intervals.
 */
const FULL_AUDIT_EVERY = 10

export class ReconcileJob implements BellListener {
  /**
   * sales audited clean (no drift, nothing in flight) and not rung since: the only ones a pass
   * skips; a sale not in here (new, rung, drifting, failed) is audited
   */
  private readonly clean = new Set<string>()
  private passes = 0

  constructor(
    private readonly redis: ScriptedRedis,
    private readonly pg: Pool,
    private readonly prefix: string,
    private readonly saleIds: () => Iterable<string>,
  ) {}

  ring(saleId: string): void {
    this.clean.delete(saleId)
  }

  resync(): void {
    this.clean.clear()
  }

  /** One pass; resolves with the sales it audited. */
  async once(): Promise<string[]> {
    const full = this.passes % FULL_AUDIT_EVERY === 0
    this.passes++
    const audited: string[] = []
    for (const saleId of [...this.saleIds()]) {
      if (!full && this.clean.has(saleId)) continue
      // Marked before the audit: a bell during it takes the mark off for the next pass.
      this.clean.add(saleId)
      try {
        if (await this.audit(saleId)) this.clean.delete(saleId)
      } catch (err) {
        this.clean.delete(saleId)
        throw err
      }
      audited.push(saleId)
    }
    return audited
  }

  /** Audit one sale; true when it drifts (audited again next pass). */
  private async audit(saleId: string): Promise<boolean> {
    const report = await auditSale(this.redis, this.pg, this.prefix, saleId)
    for (const [kind, n] of Object.entries(driftKinds(report))) drift.labels(saleId, kind).set(n)
    if (!hasDrift(report) && report.inFlight === 0) return false
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
    return true
  }
}
