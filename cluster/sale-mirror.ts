import type { Pool } from 'pg'
import { isDataError } from '../src/db/pg'
import { log } from '../src/log'
import type { SaleRecord } from '../src/sale/sale-record'
import { type SaleDefinition, saleDefinition, upsertSale } from '../src/sale/sale-sql'

/**
 * Keeps PostgreSQL's `sales` table a copy of every sale's definition (what `seckill restore`
 * rebuilds a sale from), off the purchase path: the sale watch offers every copy it sees, and the
 * mirror upserts, in the background and one at a time, those whose definition changed (sold and
 * returned change with every purchase and are not part of it). `offer` never waits. While
 * PostgreSQL is down the newest copy of each sale waits here and is tried again every RETRY_MS;
 * the outage is logged once, and its end once. A start upserts every sale once (the watch offers
 * them all at its first poll), which also fills the table for sales made before it existed.
 */
const RETRY_MS = 1000

export class SaleMirror {
  /** sale id -> the definition (JSON) the table has, as far as this node knows */
  private readonly written = new Map<string, string>()
  /** sale id -> the newest definition not yet written */
  private readonly pending = new Map<string, SaleDefinition>()
  private running: Promise<void> | null = null
  private timer: NodeJS.Timeout | null = null
  /** PostgreSQL refused the last attempt: logged once, until an upsert succeeds again */
  private outage = false
  private stopped = false

  constructor(
    private readonly pg: Pool,
    private readonly retryMs = RETRY_MS,
  ) {}

  /** The watch saw this copy of a sale. */
  offer(sale: SaleRecord): void {
    const d = saleDefinition(sale)
    if (this.written.get(d.id) === JSON.stringify(d)) this.pending.delete(d.id)
    else this.pending.set(d.id, d)
    this.kick()
  }

  /** Stop retrying; waits for a running upsert. What is pending is offered again at the next start. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    await this.running
  }

  private kick(): void {
    if (this.running || this.timer || this.stopped || this.pending.size === 0) return
    this.running = this.flush().finally(() => {
      this.running = null
      // Copies offered while this pass ran; after a failure the retry timer is set and waits.
      this.kick()
    })
  }

  private async flush(): Promise<void> {
    for (const [id, d] of [...this.pending]) {
      const json = JSON.stringify(d)
      try {
        await upsertSale(this.pg, d)
      } catch (err) {
        if (isDataError(err)) {
          // This definition can never be stored (a name PostgreSQL refuses): say so once and
          // wait for the next change of the sale rather than retry the same row forever.
          log.error(
            { sale: id, err: (err as Error).message },
            'PostgreSQL refused the sale definition; `seckill restore` cannot rebuild this sale',
          )
          this.settled(id, d, json)
          continue
        }
        if (!this.outage) {
          log.warn(
            { sale: id, err: (err as Error).message },
            'copying sale definitions to PostgreSQL failed; sales go on, retrying every ' +
              `${this.retryMs} ms`,
          )
        }
        this.outage = true
        this.timer = setTimeout(() => {
          this.timer = null
          this.kick()
        }, this.retryMs)
        return
      }
      if (this.outage) log.info('sale definitions are copied to PostgreSQL again')
      this.outage = false
      this.settled(id, d, json)
    }
  }

  private settled(id: string, d: SaleDefinition, json: string): void {
    this.written.set(id, json)
    // A newer copy offered while this one was written stays pending.
    if (this.pending.get(id) === d) this.pending.delete(id)
  }
}
