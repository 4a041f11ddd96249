import type { Pool } from 'pg'
import type { RedisClient } from '../../store/redis-client'
import { type OrderRecord, orderFromEntry } from '../order-record'
import { PgSide, type TableWrite } from './pg-side'
import { ReadAhead } from './read-ahead'
import { type Entry, idMs, type ReadBatch, StreamSide } from './stream-side'
import {
  type CrashPoint,
  countRead,
  crashIf,
  type DeadLetterNote,
  emptyResult,
  errorText,
  type WriteJob,
  type WriteResult,
  type WriterOptions,
} from './write-job'

/**
 * One step of the order writer for one sale: read a batch of the sale's order stream through the
 * consumer group (stream side), write it to PostgreSQL in one idempotent transaction and commit
 * (PostgreSQL side), then XACK and XDEL the entries whose rows are committed (at-least-once:
 * nothing is acked before COMMIT). A crash anywhere leaves the entries pending: the next step
 * re-reads them, and the upsert makes the second write a no-op.
 *
 * Reading new entries, a step drains: while one transaction is written, the next reads go on
 * (read-ahead.ts) and the last transaction's entries are acked, so Redis and PostgreSQL work at
 * the same time; each transaction takes everything read while the one before it was written (up
 * to MAX_TRANSACTION_ROWS), so the transactions grow to what PostgreSQL can take while each
 * Redis call stays WRITER_BATCH entries. A step reads on while reads come back full, for at most
 * STEP_BUDGET_MS, and writes everything it read before it returns. Pending entries (after a
 * start or a failure) and XAUTOCLAIM are read one batch per step, as they come.
 *
 * Stateless between calls (the caller says where to read), so any thread can run any step.
 */

/**
 * How long a draining step goes on reading. Long enough that the step's fixed costs (the thread
 * hop, the loop's timer, the backlog measure) are a few per cent of it; short enough that other
 * sales sharing the writer's threads wait little, and the backlog gauge moves ten times a second.
 */
const STEP_BUDGET_MS = 100

/**
 * Most rows in one transaction. Measured with bench/writer-sql.ts (see the README): rows/s into
 * PostgreSQL rise steeply up to a few thousand rows per COMMIT and barely after; and a batch
 * PostgreSQL refuses as data is written again one row at a time, which this bounds.
 */
export const MAX_TRANSACTION_ROWS = 5000

export interface DrainLimits {
  readonly stepBudgetMs: number
  readonly maxTransactionRows: number
}

const DRAIN_LIMITS: DrainLimits = {
  stepBudgetMs: STEP_BUDGET_MS,
  maxTransactionRows: MAX_TRANSACTION_ROWS,
}

/** What one transaction left to do in Redis once committed. */
interface Committed {
  readonly error: null
  readonly sorted: Sorted
  readonly write: Written
}

/** A transaction committed, or why not (nothing of it may be acked). */
type Commit = Committed | { readonly error: string }

type Written = Extract<TableWrite, { error: null }>

/** A step's running totals (the plain-value result is made from them). */
interface Totals {
  read: number
  written: number
  leftPending: number
  readonly notes: DeadLetterNote[]
}

export class OrderWriter {
  constructor(
    private readonly stream: StreamSide,
    private readonly table: PgSide,
    private readonly crashAt: CrashPoint | null = null,
    /** a test or a benchmark may try other limits than the module's */
    private readonly limits: DrainLimits = DRAIN_LIMITS,
    /** SECKILL_CRASH_AFTER: the crash hook waits for this many entries read */
    private readonly crashAfter = 0,
  ) {}

  /** A writer on these clients (one Redis client and one pool per thread: writer-task.ts). */
  static open(redis: RedisClient, pg: Pool, o: WriterOptions): OrderWriter {
    const table = new PgSide(pg, o.crashAt)
    return new OrderWriter(
      new StreamSide(redis, o),
      table,
      o.crashAt,
      DRAIN_LIMITS,
      o.crashAfterReads ?? 0,
    )
  }

  /** The sales, of these, whose stream holds entries (the writer loop's safety net). */
  backlogged(saleIds: readonly string[]): Promise<string[]> {
    return this.stream.backlogged(saleIds)
  }

  async step(job: WriteJob): Promise<WriteResult> {
    const { saleId, consumer } = job
    let batch: ReadBatch
    try {
      batch = await this.stream.read(saleId, consumer, job.from, job.cursor)
    } catch (err) {
      return this.failed(saleId, 0, '0-0', err)
    }
    const { entries, cursor } = batch
    if (entries.length === 0) return this.measured(saleId, emptyResult(cursor))
    countRead(entries.length)
    crashIf(this.crashAt, 'after-read', this.crashAfter)
    if (job.from === 'new') return this.drain(saleId, consumer, entries)

    const t = totals()
    try {
      const c = await this.commit(saleId, entries)
      if (c.error !== null) return this.failed(saleId, entries.length, cursor, c.error)
      t.read = entries.length
      await this.settle(saleId, consumer, c, t)
    } catch (err) {
      return this.failed(saleId, entries.length, cursor, err)
    }
    const more = job.from === 'claim' ? cursor !== '0-0' : entries.length === this.stream.batch
    return this.measured(saleId, result(t, more, cursor))
  }

  /**
   * New entries until the stream is drained or the step's time is spent: the transaction of one
   * chunk overlaps the reads of the next and the acks of the last. On a failure it stops, waits
   * for what is in flight and reports it; every entry not yet acked stays pending with
   * `consumer`, which the loop re-reads first.
   */
  private async drain(saleId: string, consumer: string, first: Entry[]): Promise<WriteResult> {
    const deadline = performance.now() + this.limits.stepBudgetMs
    const max = Math.max(this.limits.maxTransactionRows, this.stream.batch)
    // Reading ahead, the step's last read comes before its last write: what came in meanwhile is
    // read by the next step at once (`more`), not on the next poll or bell (waiting for the poll
    // added ~15 ms to the median lag of a sale in bench:writer).
    const readAhead = first.length === this.stream.batch
    const ahead = new ReadAhead(this.stream, saleId, consumer, first, deadline, max)
    const t = totals()
    // The last chunk's acks, in flight while the next chunk is written: resolves to why they
    // failed, or null (never rejects: it is awaited only after the next commit).
    let settling: Promise<string | null> = Promise.resolve(null)
    let failure: string | null = null
    for (;;) {
      const entries = await ahead.take()
      if (entries.length === 0) break
      t.read += entries.length
      const c = await this.commit(saleId, entries).catch((err: unknown) => ({
        error: errorText(err),
      }))
      failure = (await settling) ?? c.error
      if (c.error !== null || failure !== null) break
      settling = this.settle(saleId, consumer, c, t).then(
        () => null,
        (err: unknown) => errorText(err),
      )
    }
    failure ??= await settling
    await ahead.stop()
    if (failure === null && ahead.error !== null) failure = errorText(ahead.error)
    if (failure !== null)
      return this.measured(saleId, { ...result(t, false, '0-0'), error: failure })
    return this.measured(saleId, result(t, readAhead || ahead.more, '0-0'))
  }

  /** The entries' orders written and committed; what is left to do in Redis, or the error. */
  private async commit(saleId: string, entries: readonly Entry[]): Promise<Commit> {
    const sorted = sortEntries(saleId, entries)
    const write = await this.table.write(sorted.good)
    if (write.error !== null) return { error: write.error }
    return { error: null, sorted, write }
  }

  /**
   * After a commit: refused rows left pending or dead-lettered, malformed entries dead-lettered,
   * the rest acked and deleted (XACK+XDEL in one MULTI) with the final states noted for pruning.
   */
  private async settle(saleId: string, consumer: string, c: Committed, t: Totals): Promise<void> {
    const { sorted: p, write: w } = c
    const ack = [...p.gone]
    const finals: (string | number)[] = []
    const refused = new Set(w.refused.map((r) => r.index))
    for (const [i, o] of p.good.entries()) {
      if (refused.has(i)) continue
      const id = p.from[i]![0]
      ack.push(id)
      // Now final in PostgreSQL: the order may be pruned from Redis ORDER_RETENTION_S after the
      // moment it became final (the entry's id, Redis clock).
      if (o.status === 'cancelled' || o.status === 'expired') finals.push(idMs(id), o.orderId)
    }
    let refusedDead = 0
    // A row PostgreSQL refused waits for its next delivery, or goes to the dead letters.
    for (const r of w.refused) {
      const note = await this.stream.deadLetterIfSpent(saleId, p.from[r.index]!, r.why, consumer)
      if (note === null) continue
      t.notes.push(note)
      refusedDead++
    }
    // Malformed: no delivery can ever write it.
    for (const [e, why] of p.bad)
      t.notes.push(await this.stream.deadLetter(saleId, e, why, 1, consumer))
    await this.stream.settle(saleId, ack, finals)
    t.written += w.written
    t.leftPending += w.refused.length - refusedDead
  }

  private async measured(
    saleId: string,
    r: Omit<WriteResult, 'backlog' | 'oldestMs'>,
  ): Promise<WriteResult> {
    return { ...r, ...(await this.stream.measure(saleId)) }
  }

  /**
   * A failed step still measures the backlog when Redis answers: a PostgreSQL outage is exactly
   * when the backlog and lag gauges must grow, not freeze at their last healthy value.
   */
  private failed(saleId: string, read: number, cursor: string, err: unknown): Promise<WriteResult> {
    return this.measured(saleId, { ...emptyResult(cursor), read, error: errorText(err) })
  }
}

interface Sorted {
  /** the entries that parse, as orders */
  readonly good: OrderRecord[]
  /** the entry each of `good` came from, at the same index */
  readonly from: Entry[]
  /** entries no delivery can ever write, with why */
  readonly bad: [Entry, string][]
  /** ids of pending entries deleted from the stream (XDEL after a commit whose XACK was lost) */
  readonly gone: string[]
}

function sortEntries(saleId: string, entries: readonly Entry[]): Sorted {
  const s: Sorted = { good: [], from: [], bad: [], gone: [] }
  for (const e of entries) {
    if (e[1] === null) {
      s.gone.push(e[0])
      continue
    }
    const parsed = orderFromEntry(saleId, e[1])
    if (typeof parsed === 'string') s.bad.push([e, parsed])
    else {
      s.good.push(parsed)
      s.from.push(e)
    }
  }
  return s
}

function totals(): Totals {
  return { read: 0, written: 0, leftPending: 0, notes: [] }
}

function result(
  t: Totals,
  more: boolean,
  cursor: string,
): Omit<WriteResult, 'backlog' | 'oldestMs'> {
  return {
    read: t.read,
    written: t.written,
    deadLettered: t.notes.length,
    deadLetterNotes: t.notes,
    leftPending: t.leftPending,
    more,
    cursor,
    error: null,
  }
}
