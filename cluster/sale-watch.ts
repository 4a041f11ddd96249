import type Redis from 'ioredis'
import type { SaleRecord } from '../src/sale/sale-record'
import { listSaleIds, readSale, readSales } from '../src/sale/sale-store'
import { redisOffsetMs } from '../src/store/redis-time'

/**
 * The primary's view of every sale: polls Redis every SALE_POLL_MS (this is how a start, a close
 * or returned stock on another node reaches this one) and re-reads a sale at once when a worker of
 * this node changed it or saw it sell out. Every new or changed sale goes to each listener: the
 * workers (cluster/worker-hub.ts), the mirror that keeps PostgreSQL's `sales` table
 * (cluster/sale-mirror.ts) and the order writer. Also measures the offset of Redis's clock, which
 * the workers use for their local open/closed gate.
 */
export class SaleWatch {
  private readonly copies = new Map<string, string>()
  private readonly sales = new Map<string, SaleRecord>()
  private readonly listeners: ((sale: SaleRecord) => void)[] = []
  private timer: NodeJS.Timeout | null = null
  clockOffsetMs = 0

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly pollMs: number,
    private readonly onError: (err: Error) => void,
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
      this.poll().catch(this.onError)
    }, this.pollMs)
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
  }

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

  private accept(sale: SaleRecord, force = false): void {
    const copy = JSON.stringify(sale)
    if (!force && this.copies.get(sale.id) === copy) return
    this.copies.set(sale.id, copy)
    this.sales.set(sale.id, sale)
    for (const listener of this.listeners) listener(sale)
  }
}
