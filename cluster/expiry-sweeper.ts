import { callExpireOrders } from '../src/store/lua/expire-orders'
import type { ScriptedRedis } from '../src/store/scripts'
import { Periodic } from './periodic'
import { ordersExpired, unitsReturned } from './primary-metrics'

/**
 * Every SWEEP_MS, expires the reserved orders whose payment deadline has passed (Redis clock),
 * sale by sale, with expireOrders-5.lua: each order's units go back on sale exactly once, even
 * with every node of a deployment sweeping at the same time. A sale that got units back is
 * re-read at once, so the workers' sold-out flags clear and the quota flows again.
 */
const PER_CALL = 500

export class ExpirySweeper {
  private readonly periodic: Periodic

  constructor(
    private readonly redis: ScriptedRedis,
    private readonly prefix: string,
    everyMs: number,
    private readonly saleIds: () => Iterable<string>,
    private readonly onReturned: (saleId: string) => void,
  ) {
    this.periodic = new Periodic(everyMs, 'the expiry sweep', () => this.sweep())
  }

  start(): void {
    this.periodic.start()
  }

  stop(): Promise<void> {
    return this.periodic.stop()
  }

  /** One pass over every sale; returns the units returned, per sale. */
  async sweep(): Promise<Map<string, number>> {
    const returned = new Map<string, number>()
    for (const saleId of [...this.saleIds()]) {
      let units = 0
      for (;;) {
        const r = await callExpireOrders(this.redis, this.prefix, saleId, PER_CALL)
        ordersExpired.inc(r.expired)
        units += r.unitsReturned
        if (r.stillDue === 0) break
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
