import { encodeAttempts, type ReserveResult } from '../store/lua/reserve'
import type { Attempt } from './attempt'
import { failureOf, type ReserveBatch, type ReserveOutcome } from './reserve-batch'

/**
 * Collects admitted attempts per sale and sends each sale's batch as one reserve-6.lua call.
 * A full batch (BATCH_MAX) goes at once. Otherwise, by BATCH_MODE:
 * - `waiting` (the default): a sale with fewer than `inFlight` batches out sends what it has on
 *   the next turn of the loop; while it has that many out, attempts collect and go when one comes
 *   back. At low load a buyer waits for no timer; at high load the batch grows to what arrived
 *   during one round trip to Redis, which is what a window tries to guess.
 * - `window`: the batch goes when the window (BATCH_WINDOW_US) ends.
 * One shared timer or immediate for all sales, never one per request.
 *
 * Every batch is answered within `timeoutMs`: a call still unanswered then is answered
 * outcome_unknown (it was sent, so it may have been reserved). Until that late call settles, the
 * stock store is taken to be hung and new batches are not sent at all: they are answered
 * unavailable at once, which is then the truth (nothing was reserved for them), instead of
 * piling more unknown outcomes into a Redis that does not answer.
 */
export interface BatchSink {
  onReply(a: Attempt, result: ReserveResult): void
  onFailure(a: Attempt, code: 'unavailable' | 'outcome_unknown'): void
  /**
   * Just before the batch goes out: true when the attempt's client is gone (it takes its quota
   * back and is not sent). A pipelined request behind a purchase makes uWS close the connection;
   * never deciding a purchase whose answer can no longer be delivered is what makes that safe.
   */
  withdraw(a: Attempt): boolean
}

export interface BatcherOptions {
  readonly mode: 'waiting' | 'window'
  readonly windowUs: number
  readonly max: number
  /**
   * waiting mode: batches of one sale out at once before its attempts collect (1: one round trip
   * to Redis at a time per sale; more: an attempt that arrives while a batch is out need not wait
   * for it, at the price of smaller batches under load)
   */
  readonly inFlight?: number
  /** the longest a batch waits for Redis before its buyers are answered outcome_unknown */
  readonly timeoutMs: number
  run(batch: ReserveBatch): Promise<ReserveOutcome>
  /** where a sale's answers go (its SaleDesk) */
  sinkOf(saleId: string): BatchSink
  /** batch sizes, for the metrics and the benchmark report */
  onFlush?(size: number): void
}

export class Batcher {
  private readonly pending = new Map<string, Attempt[]>()
  /** batches that reached BATCH_MAX, sent on the next turn of the loop */
  private full: [saleId: string, list: Attempt[]][] = []
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null
  private timerIsImmediate = false
  private inFlight = 0
  /** batches in flight per sale (waiting mode: a sale with one collects) */
  private readonly flying = new Map<string, number>()
  /** calls answered outcome_unknown whose Redis reply has not come yet */
  private stalled = 0
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
      this.full.push([a.saleId, list])
      // Not sent from inside the request handler: uWS tells of a client gone away because of a
      // pipelined request (onAborted) in the same read, after the handler and before
      // setImmediate. Sent then, the batch leaves that attempt out.
      if (!this.timerIsImmediate) {
        this.clearTimer()
        this.timer = setImmediate(this.opts.mode === 'waiting' ? this.flushReady : this.flushAll)
        this.timerIsImmediate = true
      }
    } else if (this.opts.mode === 'waiting') {
      // On the next turn (see above); a sale with a batch in flight waits for it to come back.
      if (this.timer === null && this.canSend(a.saleId)) {
        this.timer = setImmediate(this.flushReady)
        this.timerIsImmediate = true
      }
    } else if (this.timer === null) {
      this.timerIsImmediate = this.opts.windowUs === 0
      this.timer = this.timerIsImmediate
        ? setImmediate(this.flushAll)
        : setTimeout(this.flushAll, Math.max(1, Math.round(this.opts.windowUs / 1000)))
    }
  }

  /** Waiting mode: the sale has room for another batch out. */
  private canSend(saleId: string): boolean {
    return (this.flying.get(saleId) ?? 0) < (this.opts.inFlight ?? 1)
  }

  private clearTimer(): void {
    if (this.timer === null) return
    clearTimeout(this.timer as NodeJS.Timeout)
    clearImmediate(this.timer as NodeJS.Immediate)
    this.timer = null
    this.timerIsImmediate = false
  }

  /** Batches sent and not yet answered, plus attempts still collecting. */
  get busy(): boolean {
    return this.inFlight > 0 || this.pending.size > 0 || this.full.length > 0
  }

  /** Resolves when every collected attempt has been sent and answered (for graceful stop). */
  async idle(): Promise<void> {
    this.flushAll()
    if (!this.busy) return
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve))
  }

  /** Waiting mode: the full batches, and every sale's collected attempts with none in flight. */
  private readonly flushReady = (): void => {
    this.clearTimer()
    const full = this.full
    this.full = []
    for (const [saleId, list] of full) this.send(saleId, list)
    for (const [saleId, list] of this.pending) {
      if (!this.canSend(saleId)) continue
      this.pending.delete(saleId)
      this.send(saleId, list)
    }
  }

  readonly flushAll = (): void => {
    this.clearTimer()
    const full = this.full
    this.full = []
    for (const [saleId, list] of full) this.send(saleId, list)
    for (const [saleId, list] of this.pending) this.send(saleId, list)
    this.pending.clear()
  }

  /** A batch is sent but unanswered past the timeout: Redis is not answering. */
  get hung(): boolean {
    return this.stalled > 0
  }

  private send(saleId: string, all: Attempt[]): void {
    const sink = this.opts.sinkOf(saleId)
    const list = all.filter((a) => !sink.withdraw(a))
    if (list.length === 0) return this.wakeIdle()
    this.inFlight++
    this.flying.set(saleId, (this.flying.get(saleId) ?? 0) + 1)
    if (this.stalled > 0) {
      this.finish(saleId, list, HUNG)
      return
    }
    const argv = encodeAttempts(list)
    this.opts.onFlush?.(list.length)
    const call = new BatchCall(this, saleId, list)
    call.timer = setTimeout(call.onTimeout, this.opts.timeoutMs)
    this.opts.run({ saleId, argv }).then(call.onOutcome, call.onError)
  }

  /** @internal the call's reply came after its buyers were answered outcome_unknown */
  lateReply(): void {
    this.stalled--
  }

  /** @internal the call timed out: its buyers are answered now */
  timedOut(saleId: string, list: Attempt[]): void {
    this.stalled++
    this.finish(saleId, list, TIMED_OUT)
  }

  private wakeIdle(): void {
    if (this.busy) return
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const w of waiters) w()
  }

  /** @internal */
  finish(saleId: string, list: Attempt[], outcome: ReserveOutcome): void {
    this.inFlight--
    const flying = (this.flying.get(saleId) ?? 1) - 1
    if (flying === 0) this.flying.delete(saleId)
    else this.flying.set(saleId, flying)
    const sink = this.opts.sinkOf(saleId)
    // A reply count that does not match is a fault of ours: the batch did run, so its outcome
    // is unknown to us.
    if (outcome.ok && outcome.results.length === list.length) {
      for (let i = 0; i < list.length; i++) sink.onReply(list[i]!, outcome.results[i]!)
    } else {
      const code = outcome.ok ? 'outcome_unknown' : outcome.code
      for (const a of list) sink.onFailure(a, code)
    }
    // Waiting mode: what collected while this batch was out goes now (on the next turn: the
    // answers just written may bring more attempts, parked ones given the quota back).
    if (this.opts.mode === 'waiting' && this.canSend(saleId) && this.pending.has(saleId)) {
      if (this.timer === null) {
        this.timer = setImmediate(this.flushReady)
        this.timerIsImmediate = true
      }
    }
    this.wakeIdle()
  }
}

const HUNG: ReserveOutcome = {
  ok: false,
  code: 'unavailable',
  detail: 'an earlier batch is still unanswered: the stock store is not answering',
}
const TIMED_OUT: ReserveOutcome = {
  ok: false,
  code: 'outcome_unknown',
  detail: 'the stock store did not answer in time',
}

/** One batch on its way to Redis: answered once, by its reply or by its timer. */
class BatchCall {
  timer: NodeJS.Timeout | null = null
  private answered = false

  constructor(
    private readonly batcher: Batcher,
    private readonly saleId: string,
    private readonly list: Attempt[],
  ) {}

  readonly onTimeout = (): void => {
    this.timer = null
    if (this.answered) return
    this.answered = true
    this.batcher.timedOut(this.saleId, this.list)
  }

  readonly onOutcome = (outcome: ReserveOutcome): void => {
    if (this.answered) return this.batcher.lateReply()
    this.answered = true
    if (this.timer !== null) clearTimeout(this.timer)
    this.batcher.finish(this.saleId, this.list, outcome)
  }

  readonly onError = (err: unknown): void => {
    this.onOutcome(failureOf(err))
  }
}
