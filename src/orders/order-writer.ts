import type Redis from 'ioredis'
import type { Pool } from 'pg'
import { inTransaction, isDataError } from '../db/pg'
import { log } from '../log'
import { saleKeys, WRITER_GROUP } from '../store/keys'
import { collapse, type OrderRecord, orderFromEntry } from './order-record'
import { upsertOrders } from './order-sql'

/**
 * One step of the order writer for one sale: read a batch of the sale's order stream through the
 * consumer group, write it to PostgreSQL in one idempotent statement, commit, then XACK and XDEL
 * the entries (only what PostgreSQL holds is ever removed; never MAXLEN). A crash anywhere leaves
 * the entries pending: the next step re-reads them, and the upsert makes the second write a no-op.
 *
 * Stateless between calls (the caller says where to read), so any thread can run any step.
 */
export type ReadFrom =
  /** this consumer's own pending entries (after a start or a failed step) */
  | 'pending'
  /** entries never delivered to any consumer */
  | 'new'
  /** entries idle for claimIdleMs in another (dead) consumer's pending list: XAUTOCLAIM */
  | 'claim'

export interface WriteJob {
  readonly saleId: string
  readonly consumer: string
  readonly from: ReadFrom
  /** for 'claim': the XAUTOCLAIM cursor ('0-0' to start) */
  readonly cursor?: string
}

/** The outcome of one step: a plain value (it crosses a thread boundary). */
export interface WriteResult {
  readonly read: number
  /** rows inserted or moved to a final state (0 for entries PostgreSQL already held) */
  readonly written: number
  readonly deadLettered: number
  /** entries left pending after a data error, to be retried from 'pending' */
  readonly leftPending: number
  /** the step read a full batch (or XAUTOCLAIM has more): call again at once */
  readonly more: boolean
  readonly cursor: string
  /** set when PostgreSQL or Redis failed as a whole: nothing was acked, retry later */
  readonly error: string | null
  /** stream length after the step: entries not yet in PostgreSQL (the backlog) */
  readonly backlog: number
  /** Redis-clock ms of the oldest entry still in the stream, or null when it is empty */
  readonly oldestMs: number | null
}

export interface WriterOptions {
  readonly prefix: string
  readonly batch: number
  readonly claimIdleMs: number
  readonly maxDeliveries: number
  /** test hook: the step at which this process kills itself (SIGKILL), once */
  readonly crashAt: CrashPoint | null
}

export type CrashPoint = 'after-read' | 'after-insert' | 'after-commit'

type Entry = [id: string, fields: string[] | null]

export class OrderWriter {
  private readonly groups = new Set<string>()

  constructor(
    private readonly redis: Redis,
    private readonly pg: Pool,
    private readonly o: WriterOptions,
  ) {}

  async step(job: WriteJob): Promise<WriteResult> {
    const k = saleKeys(this.o.prefix, job.saleId)
    let entries: Entry[]
    let cursor = '0-0'
    try {
      await this.ensureGroup(k.stream)
      ;[entries, cursor] = await this.read(k.stream, job)
    } catch (err) {
      // The group is gone (Redis lost its data, or the stream was deleted): create it again on
      // the next step rather than failing on NOGROUP until the process restarts.
      if (/NOGROUP/.test((err as Error).message)) this.groups.delete(k.stream)
      return this.failed(k.stream, 0, cursor, err)
    }
    if (entries.length === 0) return this.done(k.stream, emptyResult(cursor))
    this.crash('after-read')

    const good: OrderRecord[] = []
    /** the entry each of `good` came from, at the same index */
    const from: Entry[] = []
    const bad: [Entry, string][] = []
    const gone: string[] = []
    for (const e of entries) {
      // A pending entry deleted from the stream (XDEL after a commit whose XACK was lost).
      if (e[1] === null) {
        gone.push(e[0])
        continue
      }
      const parsed = orderFromEntry(job.saleId, e[1])
      if (typeof parsed === 'string') bad.push([e, parsed])
      else {
        good.push(parsed)
        from.push(e)
      }
    }

    let written = 0
    let deadLettered = 0
    let leftPending = 0
    const ack: string[] = [...gone]
    try {
      written = await this.write(collapse(good))
      ack.push(...from.map((e) => e[0]))
    } catch (err) {
      if (!isDataError(err)) return this.failed(k.stream, entries.length, cursor, err)
      // One row is bad (a constraint says no): write the others one by one, so a poison entry
      // never holds back the rest.
      const one = await this.writeOneByOne(good, from)
      if ('error' in one) return this.failed(k.stream, entries.length, cursor, one.error)
      written = one.written
      ack.push(...one.ok)
      const dead = await this.deadOrKeep(k, one.failed, job.consumer)
      deadLettered += dead.dead
      leftPending += dead.kept
    }
    try {
      // Malformed: no delivery can ever write it.
      for (const [e, why] of bad) await this.deadLetter(k, e, why, 1, job.consumer)
      deadLettered += bad.length
      await this.ack(k, ack, prunable(good, from, ack))
    } catch (err) {
      return this.failed(k.stream, entries.length, cursor, err)
    }
    return this.done(k.stream, {
      read: entries.length,
      written,
      deadLettered,
      leftPending,
      more: job.from === 'claim' ? cursor !== '0-0' : entries.length === this.o.batch,
      cursor,
      error: null,
    })
  }

  private async ensureGroup(stream: string): Promise<void> {
    if (this.groups.has(stream)) return
    try {
      // From id 0: every entry ever appended is delivered, even those older than the group.
      await this.redis.xgroup('CREATE', stream, WRITER_GROUP, '0', 'MKSTREAM')
    } catch (err) {
      if (!/BUSYGROUP/.test((err as Error).message)) throw err
    }
    this.groups.add(stream)
  }

  private async read(stream: string, job: WriteJob): Promise<[Entry[], string]> {
    const n = this.o.batch
    if (job.from === 'claim') {
      const r = (await this.redis.xautoclaim(
        stream,
        WRITER_GROUP,
        job.consumer,
        this.o.claimIdleMs,
        job.cursor ?? '0-0',
        'COUNT',
        n,
      )) as [string, Entry[], string[]?]
      // Claimed ids whose entries were deleted come back in the third element: ack them.
      const deleted = (r[2] ?? []).map((id): Entry => [id, null])
      return [[...r[1], ...deleted], r[0]]
    }
    const id = job.from === 'pending' ? '0' : '>'
    const r = (await this.redis.xreadgroup(
      'GROUP',
      WRITER_GROUP,
      job.consumer,
      'COUNT',
      n,
      'STREAMS',
      stream,
      id,
    )) as [string, Entry[]][] | null
    return [r?.[0]?.[1] ?? [], '0-0']
  }

  private write(orders: OrderRecord[]): Promise<number> {
    return inTransaction(this.pg, async (c) => {
      const n = await upsertOrders(c, orders)
      this.crash('after-insert')
      return n
    }).then((n) => {
      this.crash('after-commit')
      return n
    })
  }

  private async writeOneByOne(
    good: OrderRecord[],
    from: Entry[],
  ): Promise<
    { written: number; ok: string[]; failed: [Entry, why: string][] } | { error: unknown }
  > {
    let written = 0
    const ok: string[] = []
    const failed: [Entry, string][] = []
    for (const [i, o] of good.entries()) {
      try {
        written += await upsertOrders(this.pg, [o])
        ok.push(from[i]![0])
      } catch (err) {
        if (!isDataError(err)) return { error: err }
        failed.push([from[i]!, (err as Error).message])
      }
    }
    return { written, ok, failed }
  }

  /** An entry that failed maxDeliveries times goes to the dead-letter stream; others wait. */
  private async deadOrKeep(
    k: ReturnType<typeof saleKeys>,
    failed: [Entry, string][],
    consumer: string,
  ): Promise<{ dead: number; kept: number }> {
    let dead = 0
    for (const [entry, why] of failed) {
      const id = entry[0]
      const p = (await this.redis.xpending(k.stream, WRITER_GROUP, id, id, 1)) as [
        string,
        string,
        number,
        number,
      ][]
      const deliveries = p[0]?.[3] ?? 0
      if (deliveries >= this.o.maxDeliveries) {
        // The entry as it stood in the stream, field for field.
        await this.deadLetter(k, entry, why, deliveries, consumer)
        dead++
      }
    }
    return { dead, kept: failed.length - dead }
  }

  /**
   * Move one entry to the dead-letter stream: XADD there, XACK and XDEL here, in one MULTI, so a
   * crash can neither lose the entry nor leave it in both places.
   */
  private async deadLetter(
    k: ReturnType<typeof saleKeys>,
    [id, fields]: Entry,
    why: string,
    deliveries: number,
    consumer: string,
  ): Promise<void> {
    const r = await this.redis
      .multi()
      .xadd(
        k.dead,
        '*',
        'streamId',
        id,
        'error',
        why,
        'deliveries',
        deliveries,
        'consumer',
        consumer,
        ...(fields ?? []),
      )
      .xack(k.stream, WRITER_GROUP, id)
      .xdel(k.stream, id)
      .exec()
    const failure = r?.find(([err]) => err)
    if (!r || failure) throw failure?.[0] ?? new Error('dead-letter transaction was discarded')
    log.error(
      { stream: k.stream, entry: id, deadLetter: k.dead, deliveries, err: why },
      'an order stream entry cannot be written to PostgreSQL: moved to the dead-letter stream',
    )
  }

  /**
   * XACK and XDEL in one MULTI: the entry leaves the pending list and the stream together. Orders
   * PostgreSQL now holds as cancelled or expired are listed for pruneOrders-3.lua in the same
   * step, so only a committed final state is ever forgotten.
   */
  private async ack(
    k: ReturnType<typeof saleKeys>,
    ids: string[],
    finals: (string | number)[],
  ): Promise<void> {
    if (ids.length === 0) return
    const m = this.redis
      .multi()
      .xack(k.stream, WRITER_GROUP, ...ids)
      .xdel(k.stream, ...ids)
    if (finals.length > 0) m.zadd(k.final, ...finals)
    const r = await m.exec()
    const failure = r?.find(([err]) => err)
    if (!r || failure) throw failure?.[0] ?? new Error('XACK/XDEL transaction was discarded')
  }

  private async done(
    stream: string,
    r: Omit<WriteResult, 'backlog' | 'oldestMs'>,
  ): Promise<WriteResult> {
    try {
      const [[, len], [, first]] = (await this.redis
        .pipeline()
        .xlen(stream)
        .xrange(stream, '-', '+', 'COUNT', 1)
        .exec()) as [[null, number], [null, Entry[]]]
      const oldest = first[0]?.[0]
      return { ...r, backlog: len, oldestMs: oldest ? Number(oldest.split('-')[0]) : null }
    } catch {
      return { ...r, backlog: -1, oldestMs: null }
    }
  }

  /**
   * A failed step still measures the backlog when Redis answers: a PostgreSQL outage is exactly
   * when the backlog and lag gauges must grow, not freeze at their last healthy value.
   */
  private failed(stream: string, read: number, cursor: string, err: unknown): Promise<WriteResult> {
    return this.done(stream, {
      ...emptyResult(cursor),
      read,
      error: (err as Error).message || String(err),
    })
  }

  private crash(point: CrashPoint): void {
    if (this.o.crashAt === point) process.kill(process.pid, 'SIGKILL')
  }
}

/** A step that read nothing (also the base of a failed one). */
export function emptyResult(cursor: string): Omit<WriteResult, 'backlog' | 'oldestMs'> {
  return {
    read: 0,
    written: 0,
    deadLettered: 0,
    leftPending: 0,
    more: false,
    cursor,
    error: null,
  }
}

/**
 * [score, orderId, ...] for ZADD: each written entry whose order is now cancelled or expired,
 * scored by the entry's id (the Redis-clock ms the order became final).
 */
function prunable(good: OrderRecord[], from: Entry[], acked: string[]): (string | number)[] {
  const out: (string | number)[] = []
  if (good.length === 0) return out
  const done = new Set(acked)
  for (let i = 0; i < good.length; i++) {
    const o = good[i]!
    const id = from[i]![0]
    if ((o.status === 'cancelled' || o.status === 'expired') && done.has(id)) {
      out.push(Number(id.split('-')[0]), o.orderId)
    }
  }
  return out
}
