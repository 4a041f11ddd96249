import { type SaleKeys, saleKeys, WRITER_GROUP } from '../../store/keys'
import type { RedisClient } from '../../store/redis-client'
import type { DeadLetterNote, ReadFrom } from './write-job'

/**
 * The Redis side of the order writer: a sale's order stream read through the consumer group,
 * and what happens to an entry once PostgreSQL has answered for it (acked and deleted, or moved
 * to the dead-letter stream). It knows nothing of PostgreSQL: the step (write-step.ts) only
 * calls `settle` for entries whose rows are committed, so only what PostgreSQL holds is ever
 * removed, and never by MAXLEN.
 */

/** A stream entry: its id and flat [field, value, ...] list; null when it was deleted. */
export type Entry = readonly [id: string, fields: string[] | null]

export interface StreamOptions {
  readonly prefix: string
  readonly batch: number
  readonly claimIdleMs: number
  readonly maxDeliveries: number
}

export interface ReadBatch {
  readonly entries: Entry[]
  /** the XAUTOCLAIM cursor to go on from ('0-0' when done, and for the other reads) */
  readonly cursor: string
}

/** What a step leaves in Redis: entries not yet in PostgreSQL and how old the oldest is. */
export interface Backlog {
  /** -1 when Redis did not answer */
  readonly backlog: number
  readonly oldestMs: number | null
}

export class StreamSide {
  private readonly groups = new Set<string>()

  constructor(
    private readonly redis: RedisClient,
    private readonly o: StreamOptions,
  ) {}

  get batch(): number {
    return this.o.batch
  }

  /**
   * The sales whose stream holds entries (XLEN > 0), all asked in one round trip (every command
   * written before a reply is awaited; no pipeline object, which a Redis Cluster confines to one
   * slot). An entry leaves the stream only once PostgreSQL has it (XACK + XDEL), so a sale with
   * none has nothing to write, pending with any consumer or new.
   */
  async backlogged(saleIds: readonly string[]): Promise<string[]> {
    const lengths = await Promise.all(saleIds.map((id) => this.redis.xlen(this.keys(id).stream)))
    return saleIds.filter((_, i) => (lengths[i] ?? 0) > 0)
  }

  /** Up to `batch` entries of a sale's stream, delivered to `consumer`. */
  async read(saleId: string, consumer: string, from: ReadFrom, cursor = '0-0'): Promise<ReadBatch> {
    const stream = this.keys(saleId).stream
    try {
      await this.ensureGroup(stream)
      return from === 'claim'
        ? await this.claim(stream, consumer, cursor)
        : await this.readGroup(stream, consumer, from === 'pending' ? '0' : '>')
    } catch (err) {
      // The group is gone (Redis lost its data, or the stream was deleted): create it again on
      // the next step rather than failing on NOGROUP until the process restarts.
      if (/NOGROUP/.test((err as Error).message)) this.groups.delete(stream)
      throw err
    }
  }

  /**
   * XACK and XDEL in one MULTI: the entries leave the pending list and the stream together.
   * `finals` are [score, orderId, ...] of orders PostgreSQL now holds as cancelled or expired:
   * listed for pruneOrders-3.lua in the same step, so only a committed final state is forgotten.
   */
  async settle(
    saleId: string,
    ids: readonly string[],
    finals: (string | number)[] = [],
  ): Promise<void> {
    if (ids.length === 0) return
    const k = this.keys(saleId)
    const m = this.redis
      .multi()
      .xack(k.stream, WRITER_GROUP, ...ids)
      .xdel(k.stream, ...ids)
    if (finals.length > 0) m.zadd(k.final, ...finals)
    checked(await m.exec(), 'XACK/XDEL')
  }

  /**
   * An entry PostgreSQL refused as data: moved to the dead-letter stream once it was delivered
   * maxDeliveries times; until then it stays pending for its next delivery. Returns the note of
   * the move, or null when it stays.
   */
  async deadLetterIfSpent(
    saleId: string,
    entry: Entry,
    why: string,
    consumer: string,
  ): Promise<DeadLetterNote | null> {
    const deliveries = await this.deliveries(saleId, entry[0])
    if (deliveries < this.o.maxDeliveries) return null
    return this.deadLetter(saleId, entry, why, deliveries, consumer)
  }

  /** The backlog after a step; measured even after a failed one (see write-step.ts). */
  async measure(saleId: string): Promise<Backlog> {
    const stream = this.keys(saleId).stream
    try {
      const [[, len], [, first]] = (await this.redis
        .pipeline()
        .xlen(stream)
        .xrange(stream, '-', '+', 'COUNT', 1)
        .exec()) as [[null, number], [null, Entry[]]]
      const oldest = first[0]?.[0]
      return { backlog: len, oldestMs: oldest ? idMs(oldest) : null }
    } catch {
      return { backlog: -1, oldestMs: null }
    }
  }

  /**
   * Move one entry to the dead-letter stream: XADD there, XACK and XDEL here, in one MULTI, so a
   * crash can neither lose the entry nor leave it in both places.
   */
  async deadLetter(
    saleId: string,
    [id, fields]: Entry,
    why: string,
    deliveries: number,
    consumer: string,
  ): Promise<DeadLetterNote> {
    const k = this.keys(saleId)
    const r = await this.redis
      .multi()
      // The entry as it stood in the stream, field for field, after why it is here.
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
    checked(r, 'dead-letter')
    return { stream: k.stream, entry: id, deadLetter: k.dead, deliveries, err: why }
  }

  private keys(saleId: string): SaleKeys {
    return saleKeys(this.o.prefix, saleId)
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

  private async claim(stream: string, consumer: string, cursor: string): Promise<ReadBatch> {
    const r = (await this.redis.xautoclaim(
      stream,
      WRITER_GROUP,
      consumer,
      this.o.claimIdleMs,
      cursor,
      'COUNT',
      this.o.batch,
    )) as [string, Entry[], string[]?]
    // Claimed ids whose entries were deleted come back in the third element: ack them.
    const deleted = (r[2] ?? []).map((id): Entry => [id, null])
    return { entries: [...r[1], ...deleted], cursor: r[0] }
  }

  private async readGroup(stream: string, consumer: string, id: '0' | '>'): Promise<ReadBatch> {
    const r = (await this.redis.xreadgroup(
      'GROUP',
      WRITER_GROUP,
      consumer,
      'COUNT',
      this.o.batch,
      'STREAMS',
      stream,
      id,
    )) as [string, Entry[]][] | null
    return { entries: r?.[0]?.[1] ?? [], cursor: '0-0' }
  }

  private async deliveries(saleId: string, id: string): Promise<number> {
    const p = (await this.redis.xpending(this.keys(saleId).stream, WRITER_GROUP, id, id, 1)) as [
      string,
      string,
      number,
      number,
    ][]
    return p[0]?.[3] ?? 0
  }
}

/** The Redis-clock ms in a stream entry id ("<ms>-<seq>"). */
export function idMs(id: string): number {
  return Number(id.split('-')[0])
}

/** Throw the first error of a MULTI, or when Redis discarded it. */
function checked(r: [Error | null, unknown][] | null, what: string): void {
  const failure = r?.find(([err]) => err)
  if (!r || failure) throw failure?.[0] ?? new Error(`${what} transaction was discarded`)
}
