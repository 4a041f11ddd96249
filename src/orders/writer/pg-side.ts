import type { Pool } from 'pg'
import { inTransaction, isDataError } from '../../db/pg'
import { collapse, type OrderRecord } from '../order-record'
import { upsertOrders } from '../order-sql'
import { type CrashPoint, crashIf, errorText } from './write-job'

/**
 * The PostgreSQL side of the order writer: a batch of orders upserted in one transaction (the
 * upsert is idempotent, so writing a batch again is a no-op), and, when PostgreSQL refuses one
 * row as data, the batch again one row at a time so a poison row never holds back the rest. It
 * knows nothing of Redis: it answers by index into the batch it was given, and the step
 * (write-step.ts) maps indexes back to stream entries.
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

export class PgSide {
  constructor(
    private readonly pg: Pool,
    /** SECKILL_CRASH_AT: 'after-insert' and 'after-commit' are points of this side */
    private readonly crashAt: CrashPoint | null = null,
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

  /** One statement, committed before this returns: only then may the entries be acked. */
  private async inOneTransaction(orders: OrderRecord[]): Promise<number> {
    const n = await inTransaction(this.pg, async (c) => {
      const written = await upsertOrders(c, orders)
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
        written += await upsertOrders(this.pg, [o])
      } catch (err) {
        if (errorKind(err) === 'transient') return { error: errorText(err) }
        refused.push({ index, why: (err as Error).message })
      }
    }
    return { error: null, written, refused }
  }
}
