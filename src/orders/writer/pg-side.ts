import type { Pool } from 'pg'
import { inTransaction, isDataError } from '../../db/pg'
import { collapse, type OrderRecord } from '../order-record'
import { copyUpsertOrders, upsertOrders } from '../order-sql'
import { type CrashPoint, crashIf, errorText } from './write-job'

/**
 * The PostgreSQL side of the order writer: a batch of orders upserted in one transaction (a
 * large one COPYed into a staging table first, see COPY_FROM_ROWS; the upsert is idempotent, so
 * writing a batch again is a no-op), and, when PostgreSQL refuses one row as data, the batch
 * again one row at a time so a poison row never holds back the rest. It knows nothing of Redis:
 * it answers by index into the batch it was given, and the step (write-step.ts) maps indexes
 * back to stream entries.
 */

/**
 * 'data': PostgreSQL refused the rows themselves (SQLSTATE classes 22 and 23); the same rows
 * can never be written. 'transient': anything else (connection lost, server shutting down, a
 * missing table): the server's state, retried later and never blamed on a row.
 */
export type ErrorKind = 'data' | 'transient'

export function errorKind(err: unknown): ErrorKind {
  return isDataError(err) ? 'data' : 'transient'
}

/** A row PostgreSQL refused as data: its index in the batch, and PostgreSQL's message. */
export interface Refused {
  readonly index: number
  readonly why: string
}

export type TableWrite =
  /** rows inserted or moved to a final state, and those refused (every other row is committed) */
  | { readonly error: null; readonly written: number; readonly refused: readonly Refused[] }
  /** a transient failure: rows may or may not be committed, so none may be acked */
  | { readonly error: string }

/**
 * From this many rows on, a transaction writes by COPY into the staging table and one INSERT …
 * SELECT (copyUpsertOrders); below, by the one unnest statement (upsertOrders), named so each
 * connection parses and plans it once: same meaning, and one round trip where COPY takes two.
 * bench/writer-sql.ts, 2 cores, 50,000 new rows per way, one transaction per batch, median of
 * 3 rounds taking turns, 2026-12-02, other work running (load ~2):
 *
 *   rows per transaction           100     500   2,000   5,000  10,000
 *   unnest, rows/s              35,264  64,318  83,173  78,237       -
 *   unnest prepared, rows/s     42,737  76,861       -  79,007       -
 *   COPY, rows/s                25,851  57,336  80,784 103,813 101,982
 *   PG CPU µs/row: unnest         13.8     9.8     8.4     9.4       -
 *   PG CPU µs/row: prepared       11.0     8.4       -     9.4       -
 *   PG CPU µs/row: COPY           19.2    10.8     8.2     7.4     7.0
 *
 * (bare COPY straight into `orders`, 5,000 rows: 111,969 rows/s, 5.2 µs.) A sale's steady
 * trickle (at most WRITER_BATCH rows a step) and the one-row retries take the prepared
 * statement; a draining step's transactions (up to MAX_TRANSACTION_ROWS, write-step.ts) COPY.
 */
export const COPY_FROM_ROWS = 2000

export class PgSide {
  constructor(
    private readonly pg: Pool,
    /** SECKILL_CRASH_AT: 'after-insert' and 'after-commit' are points of this side */
    private readonly crashAt: CrashPoint | null = null,
    /** tests write both ways with any batch: 1 is always COPY, Infinity never */
    private readonly copyFromRows = COPY_FROM_ROWS,
  ) {}

  /** Write `orders` (the same order may appear twice: its final state wins, see collapse()). */
  async write(orders: readonly OrderRecord[]): Promise<TableWrite> {
    try {
      return { error: null, written: await this.inOneTransaction(collapse(orders)), refused: [] }
    } catch (err) {
      if (errorKind(err) === 'transient') return { error: errorText(err) }
    }
    return this.oneByOne(orders)
  }

  /** One transaction, committed before this returns: only then may the entries be acked. */
  private async inOneTransaction(orders: OrderRecord[]): Promise<number> {
    const n = await inTransaction(this.pg, async (c) => {
      const written =
        orders.length >= this.copyFromRows
          ? await copyUpsertOrders(c, orders)
          : await upsertOrders(c, orders, true)
      crashIf(this.crashAt, 'after-insert')
      return written
    })
    crashIf(this.crashAt, 'after-commit')
    return n
  }

  /** Each order in its own statement, in batch order (a creation before its final state). */
  private async oneByOne(orders: readonly OrderRecord[]): Promise<TableWrite> {
    let written = 0
    const refused: Refused[] = []
    for (const [index, o] of orders.entries()) {
      try {
        written += await upsertOrders(this.pg, [o], true)
      } catch (err) {
        if (errorKind(err) === 'transient') return { error: errorText(err) }
        refused.push({ index, why: (err as Error).message })
      }
    }
    return { error: null, written, refused }
  }
}
