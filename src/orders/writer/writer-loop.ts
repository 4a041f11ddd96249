import { join } from 'node:path'
import Piscina from 'piscina'
import { log } from '../../log'
import type { BellListener } from '../../store/sale-bell'
import { failedResult, type ReadFrom, type WriteJob, type WriteResult } from './write-job'
import type { WriterTaskData } from './writer-task'

/**
 * Drives the order writer: one loop per sale, each running one step at a time on the Piscina
 * pool. A loop starts by re-reading this consumer's own pending entries (what a crash left),
 * then reads new entries while there are any, and parks. A parked loop costs nothing: it steps
 * again when the sale's bell rings (`ring`, from the scripts that append to the stream, through
 * src/store/sale-bell.ts), on the slow safety-net read every idleMs (a bell can be missed), and, while
 * the stream holds entries this consumer cannot read (pending with another consumer), every
 * CLAIM_CHECK_MS (or claimIdleMs / 2, if less) to take over what a dead consumer left
 * (XAUTOCLAIM), so a dead node's orders wait claimIdleMs plus at most that. A failed step
 * (PostgreSQL down) is retried with back-off, whatever rings; the entries wait in Redis, so the
 * sale goes on and the backlog drains when PostgreSQL is back.
 *
 * How it learns about sales: `track(saleId)`, called by whatever watches the sales. The primary
 * feeds it from its sale watch as a listener (cluster/sale-watch.ts), not from the broadcast to
 * its workers: the watch reads the sales index every SALE_POLL_MS, so a sale made on another
 * node sharing this Redis is written here too, and it re-reads a sale at once when this node's
 * workers create or change one, so a local sale is written from its first order.
 */
const BACKOFF_MIN_MS = 100
/**
 * The shortest time between the starts of two steps of a sale woken by its bell. A busy sale
 * rings with every purchase batch, hundreds of times a second: stepping on each ring made
 * transactions of a few rows, each a COMMIT, and PostgreSQL's CPU went to the purchase path's
 * cost (latency at 5,000 req/s: p50 150 ms). 20 ms, the old polling interval, lets a busy sale's
 * entries gather into one transaction; a quiet sale's first bell is answered at once.
 */
const RING_GAP_MS = 20
const BACKOFF_MAX_MS = 5000
/**
 * How often a sale whose stream holds entries of other consumers looks for dead ones' entries.
 * An XAUTOCLAIM that finds nothing idle enough scans a few pending ids and returns: once a
 * second per sale is nothing, and a dead node's orders then wait WRITER_CLAIM_IDLE_MS plus at
 * most a second.
 */
const CLAIM_CHECK_MS = 1000

export interface WriterLoopOptions {
  readonly threads: number
  readonly consumer: string
  /** the safety-net read of every parked sale (0: never) */
  readonly idleMs: number
  readonly claimIdleMs: number
  readonly task: WriterTaskData
  /** Redis clock now, for the lag gauge (entry ids are Redis-clock ms) */
  now(): number
}

/** The slice of prom-client the loop reports to (the metrics live in the primary's registry). */
export interface WriterMetrics {
  readonly ordersWritten: { inc(n: number): void }
  readonly writerBatch: { observe(n: number): void }
  readonly writerFailures: { inc(): void }
  readonly deadLetters: { inc(n: number): void }
  readonly writerBacklog: PerSale
  readonly writerLag: PerSale
}

interface PerSale {
  labels(sale: string): { set(value: number): void }
}

interface SaleLoop {
  readonly saleId: string
  mode: 'pending' | 'new'
  cursor: string
  nextClaimAt: number
  failures: number
  timer: NodeJS.Timeout | null
  /** what the timer waits for: a back-off is not cut short by a bell, a claim wait is */
  waiting: 'step' | 'backoff' | 'claim'
  /** when the last step started (performance.now()), for RING_GAP_MS */
  lastStepAt: number
  running: Promise<void> | null
  /** the bell rang while a step ran: that step may have read before the new entries */
  rang: boolean
}

export class WriterLoop implements BellListener {
  private readonly pool: Piscina
  private readonly loops = new Map<string, SaleLoop>()
  private readonly safetyNet: NodeJS.Timeout | null
  private stopped = false
  /** a resync's probe is out */
  private probing = false
  /** a resync came while the probe was out */
  private probeAgain = false

  constructor(
    private readonly o: WriterLoopOptions,
    private readonly metrics: WriterMetrics,
  ) {
    this.pool = new Piscina({
      filename: join(__dirname, 'writer-task.js'),
      minThreads: o.threads,
      maxThreads: o.threads,
      idleTimeout: Number.POSITIVE_INFINITY,
      // 'sync' (Piscina's default) parks an idle thread in Atomics.wait, which freezes its event
      // loop between tasks: ioredis's reconnect timer then never fires, because each step fails
      // at once on the dead connection and the thread is frozen again before the timer is due.
      // The writer's Redis client was gone for good after a CLIENT KILL. 'async' waits with
      // Atomics.waitAsync and keeps the loop (timers, sockets) running.
      atomics: 'async',
      workerData: o.task,
    })
    this.safetyNet =
      o.idleMs > 0
        ? setInterval(() => {
            this.resync()
          }, o.idleMs)
        : null
  }

  /** Start writing a sale's orders (once per sale id; later calls do nothing). */
  track(saleId: string): void {
    if (this.stopped || this.loops.has(saleId)) return
    const s: SaleLoop = {
      saleId,
      mode: 'pending',
      cursor: '0-0',
      nextClaimAt: 0,
      failures: 0,
      timer: null,
      waiting: 'step',
      lastStepAt: Number.NEGATIVE_INFINITY,
      running: null,
      rang: false,
    }
    this.loops.set(saleId, s)
    this.schedule(s, 0, 'step')
  }

  /**
   * The sale's stream has new entries: a parked loop steps now, a running one steps again after
   * its step. A loop backing off after a failure keeps its back-off (a bell per purchase must
   * not hammer a PostgreSQL that is down). A sale not tracked yet is read from its start when
   * the watch reports it.
   */
  ring(saleId: string): void {
    const s = this.loops.get(saleId)
    if (s === undefined || this.stopped) return
    if (s.running !== null) {
      s.rang = true
      return
    }
    if (s.timer !== null) {
      if (s.waiting !== 'claim') return
      clearTimeout(s.timer)
      s.timer = null
    }
    this.schedule(s, this.gapLeft(s), 'step')
  }

  /**
   * Every sale may have new entries (bells may have been missed): the sales whose stream holds
   * entries are asked for in one task (XLEN of every stream, one round trip) and only those
   * step. If that fails, every sale steps, as a bell for each would make it.
   */
  resync(): void {
    if (this.stopped) return
    // A probe already out may have read before the bells this resync is for: ask again after it.
    if (this.probing) {
      this.probeAgain = true
      return
    }
    const ids = [...this.loops.keys()]
    this.probing = true
    ;(this.pool.run(ids, { name: 'backlogged' }) as Promise<string[]>)
      .then(
        (found) => {
          for (const saleId of found) this.ring(saleId)
        },
        () => {
          for (const saleId of ids) this.ring(saleId)
        },
      )
      .finally(() => {
        this.probing = false
        if (this.probeAgain) {
          this.probeAgain = false
          this.resync()
        }
      })
  }

  /** Let running steps finish (they commit and ack), start no new one, and close the threads. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.safetyNet) clearInterval(this.safetyNet)
    for (const s of this.loops.values()) if (s.timer) clearTimeout(s.timer)
    await Promise.all([...this.loops.values()].map((s) => s.running))
    await this.pool.destroy()
  }

  private schedule(s: SaleLoop, delayMs: number, waiting: SaleLoop['waiting']): void {
    if (this.stopped) return
    s.waiting = waiting
    s.timer = setTimeout(() => {
      s.timer = null
      s.rang = false
      s.lastStepAt = performance.now()
      s.running = this.step(s).finally(() => {
        s.running = null
      })
    }, delayMs)
  }

  private async step(s: SaleLoop): Promise<void> {
    const now = Date.now()
    const from: ReadFrom = s.mode === 'new' && now >= s.nextClaimAt ? 'claim' : s.mode
    const job: WriteJob = { saleId: s.saleId, consumer: this.o.consumer, from, cursor: s.cursor }
    let r: WriteResult
    try {
      r = (await this.pool.run(job, { name: 'write' })) as WriteResult
    } catch (err) {
      r = failedResult('0-0', 0, err)
    }
    this.account(s.saleId, r)
    const next = this.after(s, from, r, now)
    if (next !== null) this.schedule(s, next.delayMs, next.waiting)
  }

  /** A step's result in the metrics. */
  private account(saleId: string, r: WriteResult): void {
    const m = this.metrics
    if (r.read > 0) m.writerBatch.observe(r.read)
    m.ordersWritten.inc(r.written)
    m.deadLetters.inc(r.deadLettered)
    for (const note of r.deadLetterNotes) {
      log.error(
        note,
        'an order stream entry cannot be written to PostgreSQL: moved to the dead-letter stream',
      )
    }
    if (r.error !== null) m.writerFailures.inc()
    if (r.backlog < 0) return
    m.writerBacklog.labels(saleId).set(r.backlog)
    m.writerLag
      .labels(saleId)
      .set(r.oldestMs === null ? 0 : Math.max(0, this.o.now() - r.oldestMs) / 1000)
  }

  /** How long a bell must wait before the sale's next step (RING_GAP_MS after the last start). */
  private gapLeft(s: SaleLoop): number {
    return Math.max(0, s.lastStepAt + RING_GAP_MS - performance.now())
  }

  /** Move the sale's loop on after a step; returns when to step next, or null to park. */
  private after(
    s: SaleLoop,
    from: ReadFrom,
    r: WriteResult,
    now: number,
  ): { delayMs: number; waiting: SaleLoop['waiting'] } | null {
    if (r.error !== null) {
      if (s.failures++ === 0) {
        log.error(
          { sale: s.saleId, err: r.error },
          'the order writer cannot write: orders wait in Redis and are retried with back-off',
        )
      }
      // Whatever was read is now pending with this consumer: read it again first.
      s.mode = 'pending'
      const delayMs = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (s.failures - 1))
      return { delayMs, waiting: 'backoff' }
    }
    if (s.failures > 0) {
      log.info({ sale: s.saleId, failedSteps: s.failures }, 'the order writer writes again')
      s.failures = 0
    }
    if (r.leftPending > 0) {
      // A row PostgreSQL refused waits for its next delivery (or the dead-letter stream).
      s.mode = 'pending'
      return { delayMs: BACKOFF_MIN_MS, waiting: 'backoff' }
    }
    if (from === 'claim') {
      s.cursor = r.more ? r.cursor : '0-0'
      if (!r.more) s.nextClaimAt = now + Math.min(CLAIM_CHECK_MS, this.o.claimIdleMs / 2)
      // New entries are read right after a claim pass (the claim may have been due on a bell).
      return { delayMs: 0, waiting: 'step' }
    }
    if (from === 'pending') {
      if (r.read === 0) s.mode = 'new'
      return { delayMs: 0, waiting: 'step' }
    }
    if (r.more) return { delayMs: 0, waiting: 'step' }
    if (s.rang) return { delayMs: this.gapLeft(s), waiting: 'step' }
    // Nothing more to read. Entries still in the stream are pending with another consumer:
    // if it died, they are taken over once they have been idle for claimIdleMs.
    if (r.backlog !== 0) {
      return { delayMs: Math.max(0, s.nextClaimAt - Date.now()), waiting: 'claim' }
    }
    return null
  }
}
