import type { ReserveReply } from '../store/scripts'
import type { Attempt } from './attempt'
import type { ReserveBatch, ReserveOutcome } from './reserve-batch'

/**
 * Collects admitted attempts per sale and sends each sale's batch as one reserve-6.lua call,
 * when the batch is full (BATCH_MAX) or the window (BATCH_WINDOW_US) ends. One shared timer for
 * all sales, never one per request.
 */
export interface BatchSink {
  onReply(a: Attempt, reply: ReserveReply): void
  onFailure(a: Attempt): void
}

export interface BatcherOptions {
  readonly windowUs: number
  readonly max: number
  run(batch: ReserveBatch): Promise<ReserveOutcome>
  /** where a sale's answers go (its SaleDesk) */
  sinkOf(saleId: string): BatchSink
  /** batch sizes, for the metrics and the benchmark report */
  onFlush?(size: number): void
}

export class Batcher {
  private readonly pending = new Map<string, Attempt[]>()
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null
  private inFlight = 0
  private idleWaiters: (() => void)[] = []

  constructor(private readonly opts: BatcherOptions) {}

  add(a: Attempt): void {
    let list = this.pending.get(a.saleId)
    if (!list) {
      list = []
      this.pending.set(a.saleId, list)
    }
    list.push(a)
    if (list.length >= this.opts.max) {
      this.pending.delete(a.saleId)
      this.send(a.saleId, list)
    } else if (this.timer === null) {
      this.timer =
        this.opts.windowUs === 0
          ? setImmediate(this.flushAll)
          : setTimeout(this.flushAll, Math.max(1, Math.round(this.opts.windowUs / 1000)))
    }
  }

  /** Batches sent and not yet answered, plus attempts still collecting. */
  get busy(): boolean {
    return this.inFlight > 0 || this.pending.size > 0
  }

  /** Resolves when every collected attempt has been sent and answered (for graceful stop). */
  async idle(): Promise<void> {
    this.flushAll()
    if (!this.busy) return
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve))
  }

  readonly flushAll = (): void => {
    if (this.timer !== null) {
      clearTimeout(this.timer as NodeJS.Timeout)
      clearImmediate(this.timer as NodeJS.Immediate)
      this.timer = null
    }
    for (const [saleId, list] of this.pending) this.send(saleId, list)
    this.pending.clear()
  }

  private send(saleId: string, list: Attempt[]): void {
    const argv: (string | number)[] = [list.length]
    for (const a of list) argv.push(a.orderId, a.userId, a.quantity, a.idemKey)
    this.inFlight++
    this.opts.onFlush?.(list.length)
    this.opts.run({ saleId, argv }).then(
      (outcome) => this.finish(saleId, list, outcome),
      (err: Error) =>
        this.finish(saleId, list, { ok: false, code: 'unavailable', detail: err.message }),
    )
  }

  private finish(saleId: string, list: Attempt[], outcome: ReserveOutcome): void {
    this.inFlight--
    const sink = this.opts.sinkOf(saleId)
    // A reply count that does not match is a fault of ours; answer 503 rather than guess.
    if (outcome.ok && outcome.replies.length === list.length) {
      for (let i = 0; i < list.length; i++) sink.onReply(list[i]!, outcome.replies[i]!)
    } else {
      for (const a of list) sink.onFailure(a)
    }
    if (!this.busy) {
      const waiters = this.idleWaiters
      this.idleWaiters = []
      for (const w of waiters) w()
    }
  }
}
