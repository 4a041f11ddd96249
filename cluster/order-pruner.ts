import { callPruneOrders } from '../src/store/lua/prune-orders'
import type { ScriptedRedis } from '../src/store/scripts'
import { Periodic } from './periodic'
import { ordersPruned } from './primary-metrics'

/**
 * Keeps Redis's memory bounded by the live orders: cancelled and expired orders that PostgreSQL
 * holds are forgotten in Redis ORDER_RETENTION_S after they became final (pruneOrders-3.lua),
 * with their idempotency entries. Within that period a replay with the same Idempotency-Key still
 * answers the order; after it, GET, pay and cancel answer from PostgreSQL.
 */
const PER_CALL = 500

export class OrderPruner {
  private readonly periodic: Periodic

  constructor(
    private readonly redis: ScriptedRedis,
    private readonly prefix: string,
    private readonly retentionMs: number,
    private readonly saleIds: () => Iterable<string>,
  ) {
    // A tenth of the retention keeps the overshoot small; never more often than once a second
    // (each pass is one cheap call per sale) nor less than once a minute. 0 keeps every order.
    const every = retentionMs === 0 ? 0 : Math.min(60000, Math.max(1000, retentionMs / 10))
    this.periodic = new Periodic(every, 'pruning final orders', () => this.prune())
  }

  start(): void {
    this.periodic.start()
  }

  stop(): Promise<void> {
    return this.periodic.stop()
  }

  /** One pass over every sale; returns how many orders were forgotten. */
  async prune(): Promise<number> {
    let total = 0
    for (const saleId of [...this.saleIds()]) {
      for (;;) {
        const r = await callPruneOrders(this.redis, this.prefix, saleId, this.retentionMs, PER_CALL)
        total += r.forgotten
        if (r.stillDue === 0) break
      }
    }
    ordersPruned.inc(total)
    return total
  }
}
