import { join } from 'node:path'
import Piscina from 'piscina'
import { log } from '../src/log'
import {
  emptyResult,
  type ReadFrom,
  type WriteJob,
  type WriteResult,
} from '../src/orders/order-writer'
import type { WriterTaskData } from '../src/orders/writer-task'
import {
  deadLetters,
  ordersWritten,
  writerBacklog,
  writerBatch,
  writerFailures,
  writerLag,
} from './primary-metrics'

/**
 * Drives the order writer: one loop per sale, each running one step at a time on the Piscina
 * pool. A loop starts by re-reading this consumer's own pending entries (what a crash left),
 * then reads new entries, and every claimIdleMs / 2 takes over entries idle in a dead consumer's
 * pending list. A failed step (PostgreSQL down) is retried with back-off; the entries wait in
 * Redis, so the sale goes on and the backlog drains when PostgreSQL is back.
 */
const BACKOFF_MIN_MS = 100
const BACKOFF_MAX_MS = 5000

export interface WriterLoopOptions {
  readonly threads: number
  readonly consumer: string
  readonly idleMs: number
  readonly claimIdleMs: number
  readonly task: WriterTaskData
  /** Redis clock now, for the lag gauge */
  now(): number
}

interface SaleLoop {
  readonly saleId: string
  mode: 'pending' | 'new'
  cursor: string
  nextClaimAt: number
  failures: number
  timer: NodeJS.Timeout | null
  running: Promise<void> | null
}

export class WriterLoop {
  private readonly pool: Piscina
  private readonly loops = new Map<string, SaleLoop>()
  private stopped = false

  constructor(private readonly o: WriterLoopOptions) {
    this.pool = new Piscina({
      filename: join(__dirname, '../src/orders/writer-task.js'),
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
      running: null,
    }
    this.loops.set(saleId, s)
    this.schedule(s, 0)
  }

  /** Let running steps finish (they commit and ack), start no new one, and close the threads. */
  async stop(): Promise<void> {
    this.stopped = true
    for (const s of this.loops.values()) if (s.timer) clearTimeout(s.timer)
    await Promise.all([...this.loops.values()].map((s) => s.running))
    await this.pool.destroy()
  }

  private schedule(s: SaleLoop, delayMs: number): void {
    if (this.stopped) return
    s.timer = setTimeout(() => {
      s.timer = null
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
      r = { ...emptyResult('0-0'), backlog: -1, oldestMs: null, error: (err as Error).message }
    }
    this.schedule(s, this.after(s, from, r, now))
  }

  /** Account for a step's result; returns the delay before the next step. */
  private after(s: SaleLoop, from: ReadFrom, r: WriteResult, now: number): number {
    if (r.read > 0) writerBatch.observe(r.read)
    ordersWritten.inc(r.written)
    deadLetters.inc(r.deadLettered)
    if (r.backlog >= 0) {
      writerBacklog.labels(s.saleId).set(r.backlog)
      writerLag
        .labels(s.saleId)
        .set(r.oldestMs === null ? 0 : Math.max(0, this.o.now() - r.oldestMs) / 1000)
    }
    if (r.error !== null) {
      writerFailures.inc()
      if (s.failures++ === 0) {
        log.error(
          { sale: s.saleId, err: r.error },
          'the order writer cannot write: orders wait in Redis and are retried with back-off',
        )
      }
      // Whatever was read is now pending with this consumer: read it again first.
      s.mode = 'pending'
      return Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (s.failures - 1))
    }
    if (s.failures > 0) {
      log.info({ sale: s.saleId, failedSteps: s.failures }, 'the order writer writes again')
      s.failures = 0
    }
    if (from === 'claim') {
      s.cursor = r.more ? r.cursor : '0-0'
      if (!r.more) s.nextClaimAt = now + this.o.claimIdleMs / 2
    }
    if (r.leftPending > 0) {
      // A row PostgreSQL refused waits for its next delivery (or the dead-letter stream).
      s.mode = 'pending'
      return BACKOFF_MIN_MS
    }
    if (from === 'pending' && r.read === 0) s.mode = 'new'
    return r.more || (from === 'pending' && r.read > 0) ? 0 : this.o.idleMs
  }
}
