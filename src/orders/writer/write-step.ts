import type Redis from 'ioredis'
import type { Pool } from 'pg'
import { type OrderRecord, orderFromEntry } from '../order-record'
import { PgSide } from './pg-side'
import { type Entry, idMs, type ReadBatch, StreamSide } from './stream-side'
import {
  type CrashPoint,
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
 * consumer group (stream side), write it to PostgreSQL in one idempotent statement and commit
 * (PostgreSQL side), then XACK and XDEL the entries whose rows are committed (at-least-once:
 * nothing is acked before COMMIT). A crash anywhere leaves the entries pending: the next step
 * re-reads them, and the upsert makes the second write a no-op.
 *
 * Stateless between calls (the caller says where to read), so any thread can run any step.
 */
export class OrderWriter {
  constructor(
    private readonly stream: StreamSide,
    private readonly table: PgSide,
    private readonly crashAt: CrashPoint | null = null,
  ) {}

  /** A writer on these clients (one Redis client and one pool per thread: writer-task.ts). */
  static open(redis: Redis, pg: Pool, o: WriterOptions): OrderWriter {
    return new OrderWriter(new StreamSide(redis, o), new PgSide(pg, o.crashAt), o.crashAt)
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
    crashIf(this.crashAt, 'after-read')

    const p = sortEntries(saleId, entries)
    const w = await this.table.write(p.good)
    if (w.error !== null) return this.failed(saleId, entries.length, cursor, w.error)
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

    const notes: DeadLetterNote[] = []
    try {
      // A row PostgreSQL refused waits for its next delivery, or goes to the dead letters.
      for (const r of w.refused) {
        const note = await this.stream.deadLetterIfSpent(saleId, p.from[r.index]!, r.why, consumer)
        if (note !== null) notes.push(note)
      }
      const refusedDead = notes.length
      // Malformed: no delivery can ever write it.
      for (const [e, why] of p.bad)
        notes.push(await this.stream.deadLetter(saleId, e, why, 1, consumer))
      await this.stream.settle(saleId, ack, finals)
      return this.measured(saleId, {
        read: entries.length,
        written: w.written,
        deadLettered: notes.length,
        deadLetterNotes: notes,
        leftPending: w.refused.length - refusedDead,
        more: job.from === 'claim' ? cursor !== '0-0' : entries.length === this.stream.batch,
        cursor,
        error: null,
      })
    } catch (err) {
      return this.failed(saleId, entries.length, cursor, err)
    }
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
