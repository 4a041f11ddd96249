import type { SaleRecord } from '../src/sale/sale-record'
import { listSaleIds, readSale, readSales } from '../src/sale/sale-store'
import type { RedisClient } from '../src/store/redis-client'
import { redisOffsetMs } from '../src/store/redis-time'
import type { BellListener } from '../src/store/sale-bell'

/**
 * The primary's view of every sale. A sale is re-read when its bell rings (src/store/sale-bell.ts:
 * the scripts publish when they create, start, close or sell from a sale, change its stock, or
 * return units to it, on any node) and when a worker of this node changed it or saw it sell out
 * (`refresh`). A busy sale rings with every batch: it is re-read at once, then at most once
 * every `ringGapMs` while it keeps ringing. Every sale is read anyway every `resyncMs`, and after
 * the bell's connection comes back (bells may have been missed). Every new or changed sale goes
 * to each listener: the workers (cluster/worker-hub.ts), the mirror that keeps PostgreSQL's
 * `sales` table (cluster/sale-mirror.ts) and the order writer. Also measures the offset of
 * Redis's clock, which the workers use for their local open/closed gate.
 */
export interface SaleWatchOptions {
  /** SALE_POLL_MS: the shortest gap between two reads of a sale whose bell keeps ringing */
  readonly ringGapMs: number
  /** SALE_RESYNC_MS: how often every sale is read, whatever rang */
  readonly resyncMs: number
  onError(err: Error): void
}

interface Rung {
  /** when the sale was last read because it rang */
  lastAt: number
  /** a re-read is due at the end of the gap */
  timer: NodeJS.Timeout | null
}

export class SaleWatch implements BellListener {
  private readonly copies = new Map<string, string>()
  private readonly sales = new Map<string, SaleRecord>()
  private readonly listeners: ((sale: SaleRecord) => void)[] = []
  private readonly rung = new Map<string, Rung>()
  private timer: NodeJS.Timeout | null = null
  private stopped = false
  clockOffsetMs = 0

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly o: SaleWatchOptions,
  ) {}

  /** Call `listener` with every new or changed sale (the workers, the mirror, the writer). */
  onSale(listener: (sale: SaleRecord) => void): void {
    this.listeners.push(listener)
  }

  all(): IterableIterator<SaleRecord> {
    return this.sales.values()
  }

  async start(): Promise<void> {
    await this.poll()
    this.timer = setInterval(() => {
      this.poll().catch(this.o.onError)
    }, this.o.resyncMs)
  }

  stop(): void {
    this.stopped = true
    if (this.timer) clearInterval(this.timer)
    for (const r of this.rung.values()) if (r.timer) clearTimeout(r.timer)
  }

  /** Read every sale (and the clock offset) now. */
  async poll(): Promise<void> {
    this.clockOffsetMs = await redisOffsetMs(this.redis)
    const ids = await listSaleIds(this.redis, this.prefix)
    for (const sale of await readSales(this.redis, this.prefix, ids)) this.accept(sale)
  }

  /** Re-read one sale now; returns it (null when it does not exist). */
  async refresh(id: string): Promise<SaleRecord | null> {
    const sale = await readSale(this.redis, this.prefix, id)
    if (sale) this.accept(sale, true)
    return sale
  }

  /**
   * The sale's bell rang: re-read it now, or at the end of its gap if it was read just now. An
   * urgent bell (started, closed, stock changed, sold out, units returned) is read now whatever
   * the gap: that is what every worker of every node must hear within milliseconds, and it rings
   * a few times in a sale's life, where sales ring with every batch.
   */
  ring(saleId: string, urgent = false): void {
    if (this.stopped) return
    let r = this.rung.get(saleId)
    if (r === undefined) {
      r = { lastAt: 0, timer: null }
      this.rung.set(saleId, r)
    }
    if (urgent) {
      if (r.timer !== null) clearTimeout(r.timer)
      r.timer = null
      return this.reread(saleId, r)
    }
    if (r.timer !== null) return
    const wait = r.lastAt + this.o.ringGapMs - Date.now()
    if (wait <= 0) return this.reread(saleId, r)
    r.timer = setTimeout(() => {
      r.timer = null
      this.reread(saleId, r)
    }, wait)
  }

  /** The bell's connection is back: bells may have been missed, so every sale is read. */
  resync(): void {
    if (!this.stopped) this.poll().catch(this.o.onError)
  }

  private reread(saleId: string, r: Rung): void {
    r.lastAt = Date.now()
    readSale(this.redis, this.prefix, saleId).then((sale) => {
      if (sale) this.accept(sale)
    }, this.o.onError)
  }

  private accept(sale: SaleRecord, force = false): void {
    const copy = JSON.stringify(sale)
    if (!force && this.copies.get(sale.id) === copy) return
    this.copies.set(sale.id, copy)
    this.sales.set(sale.id, sale)
    for (const listener of this.listeners) listener(sale)
  }
}
