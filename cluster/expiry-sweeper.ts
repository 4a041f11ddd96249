import { callExpireOrders, nextDeadlines } from '../src/store/lua/expire-orders'
import type { RedisClient } from '../src/store/redis-client'
import type { BellListener } from '../src/store/sale-bell'
import type { ScriptedRedis } from '../src/store/scripts'
import { ordersExpired, unitsReturned } from './primary-metrics'

/**
 * Every SWEEP_MS, expires the reserved orders whose payment deadline has passed (Redis clock),
 * sale by sale, with expireOrders-5.lua: each order's units go back on sale exactly once, even
 * with every node of a deployment sweeping at the same time. A sale that got units back is
 * re-read at once, so the workers' sold-out flags clear and the quota flows again.
 *
 * A sale is swept only when something can be due: the sweep remembers each sale's earliest
 * deadline and skips the sale until then. A new order can only bring a deadline in while the
 * sale has none, and every new order rings the sale's bell (src/store/sale-bell.ts): a ring
 * forgets what was remembered, so the next pass sweeps the sale and learns its deadline again.
 * Every FULL_SWEEP_MS every sale's earliest deadline is read again, all sales in one round trip,
 * whatever was remembered (a bell can be missed): a sale with an order due is swept then.
 */
const PER_CALL = 500
/** The safety net for a missed bell: an order expires at most this much later than its deadline. */
const FULL_SWEEP_MS = 60_000

export class ExpirySweep implements BellListener {
  /** saleId → Redis-clock ms of its earliest deadline (Infinity: none); absent: unknown */
  private readonly dueAt = new Map<string, number>()
  /** rings per sale: a pass that raced a ring must not remember what it read before it */
  private readonly rings = new Map<string, number>()
  private lastFullAt = 0

  constructor(
    private readonly redis: ScriptedRedis,
    private readonly prefix: string,
    /** Redis clock now, ms */
    private readonly now: () => number,
    /** a sale got units back */
    private readonly onReturned: (saleId: string) => void,
    /** how often every sale's earliest deadline is read again (tests shorten it) */
    private readonly fullSweepMs = FULL_SWEEP_MS,
  ) {}

  ring(saleId: string): void {
    this.dueAt.delete(saleId)
    this.rings.set(saleId, (this.rings.get(saleId) ?? 0) + 1)
  }

  resync(): void {
    this.dueAt.clear()
  }

  /** One pass over the sales that may have something due; returns the units returned, per sale. */
  async once(saleIds: Iterable<string>): Promise<Map<string, number>> {
    const ids = [...saleIds]
    if (Date.now() - this.lastFullAt >= this.fullSweepMs) {
      // The safety net: every sale's earliest deadline read again, in one round trip, so a sale
      // whose bell was missed is swept from this pass on. Nothing is swept for it by itself.
      const rings = new Map(ids.map((id) => [id, this.rings.get(id) ?? 0]))
      const deadlines = await nextDeadlines(this.redis, this.prefix, ids)
      for (const [saleId, next] of deadlines) {
        if ((this.rings.get(saleId) ?? 0) === rings.get(saleId)) {
          this.dueAt.set(saleId, next ?? Number.POSITIVE_INFINITY)
        }
      }
      this.lastFullAt = Date.now()
    }
    const returned = new Map<string, number>()
    for (const saleId of ids) {
      const due = this.dueAt.get(saleId)
      if (due !== undefined && due > this.now()) continue
      const rings = this.rings.get(saleId) ?? 0
      const units = await sweepSale(this.redis, this.prefix, saleId)
      const next = (await nextDeadlines(this.redis, this.prefix, [saleId])).get(saleId)
      if ((this.rings.get(saleId) ?? 0) === rings) {
        this.dueAt.set(saleId, next ?? Number.POSITIVE_INFINITY)
      }
      if (units > 0) {
        unitsReturned.inc(units)
        returned.set(saleId, units)
        this.onReturned(saleId)
      }
    }
    return returned
  }
}

/** Expire everything due in one sale; the units returned. */
async function sweepSale(redis: RedisClient, prefix: string, saleId: string): Promise<number> {
  let units = 0
  for (;;) {
    const r = await callExpireOrders(redis, prefix, saleId, PER_CALL)
    ordersExpired.inc(r.expired)
    units += r.unitsReturned
    if (r.stillDue === 0) return units
  }
}
