import type { SaleRecord } from '../sale/sale-record'
import { readSale } from '../sale/sale-store'
import type { ScriptedRedis } from '../store/scripts'
import { type DeskDeps, SaleDesk } from './sale-desk'

/**
 * The worker's sales, by id. The primary sends every sale it knows; an id nobody sent yet is
 * looked up in Redis once (concurrent lookups share one read), and a miss is remembered for a
 * second so that requests for made-up ids cost no Redis call each.
 */
const MISS_TTL_MS = 1000
const MISS_MAX = 10000

/**
 * One worker's copy of a sale: what it refuses at once and since when. `sinceMs` (epoch ms, the
 * worker's clock) is when that changed last on this worker: when it applied a start, a close, a
 * change of stock or a sold-out, however it learned of it.
 */
export interface SaleView {
  /** what the worker answers without asking Redis: 'open' forwards to Redis */
  readonly state: 'open' | 'not_started' | 'closed' | 'sold_out'
  readonly stock: number
  readonly sold: number
  readonly quota: number
  readonly inflight: number
  readonly parked: number
  readonly sinceMs: number
}

export class Desks {
  private readonly desks = new Map<string, SaleDesk>()
  private readonly misses = new Map<string, number>()
  private readonly lookups = new Map<string, Promise<SaleDesk | null>>()
  /** local ms when each sale's copy was last refreshed */
  private readonly freshAt = new Map<string, number>()
  /** what each sale's desk refuses at once ('open': nothing), and since when (local ms) */
  private readonly views = new Map<string, { key: string; sinceMs: number }>()
  /** the desk when there is exactly one: /buy/ticket asks on every request, without an iterator */
  private only: SaleDesk | undefined

  constructor(
    private readonly redis: ScriptedRedis,
    private readonly prefix: string,
    private readonly deps: DeskDeps,
  ) {}

  get(id: string): SaleDesk | undefined {
    return this.desks.get(id)
  }

  get size(): number {
    return this.desks.size
  }

  all(): IterableIterator<SaleDesk> {
    return this.desks.values()
  }

  /** A fresh copy of a sale arrived (from the primary, or read here). */
  upsert(record: SaleRecord): SaleDesk {
    this.misses.delete(record.id)
    this.freshAt.set(record.id, Date.now())
    let desk = this.desks.get(record.id)
    if (desk) {
      desk.update(record)
    } else {
      desk = new SaleDesk(record, this.deps)
      this.desks.set(record.id, desk)
      this.only = this.desks.size === 1 ? desk : undefined
    }
    this.noteView(desk)
    return desk
  }

  /**
   * This worker's view of a sale (`seckill status --sale ID`): what it refuses at once, and since
   * when. The time is taken when a copy from the primary changed it (a start, a close, a stock
   * change, a sold-out another node caused), which is what the fleet's propagation is measured
   * by; a sold-out this worker learned from its own Redis reply shows at the next copy.
   */
  view(id: string): SaleView | null {
    const desk = this.desks.get(id)
    if (desk === undefined) return null
    const seen = this.noteView(desk)
    return {
      state: seen.state,
      stock: desk.record.stock,
      sold: desk.record.sold,
      quota: desk.quota,
      inflight: desk.inflight,
      parked: desk.parkedCount,
      sinceMs: seen.sinceMs,
    }
  }

  private noteView(desk: SaleDesk): { state: SaleView['state']; sinceMs: number } {
    const state = desk.refusal(this.deps.now()) ?? 'open'
    const key = `${state}:${desk.record.stock}`
    let v = this.views.get(desk.record.id)
    if (v === undefined || v.key !== key) {
      v = { key, sinceMs: Date.now() }
      this.views.set(desk.record.id, v)
    }
    return { state, sinceMs: v.sinceMs }
  }

  /** Milliseconds since this sale's copy was refreshed. */
  age(id: string): number {
    return Date.now() - (this.freshAt.get(id) ?? 0)
  }

  /** The desk for `id`, reading Redis if this worker has not heard of it; null if no such sale. */
  find(id: string): SaleDesk | null | Promise<SaleDesk | null> {
    const desk = this.desks.get(id)
    if (desk) return desk
    const missUntil = this.misses.get(id)
    if (missUntil !== undefined && missUntil > Date.now()) return null
    return this.refresh(id)
  }

  /** Read the sale from Redis now (one read shared by concurrent callers). Throws if Redis fails. */
  refresh(id: string): Promise<SaleDesk | null> {
    let pending = this.lookups.get(id)
    if (!pending) {
      pending = readSale(this.redis, this.prefix, id)
        .then((record) => {
          if (record) return this.upsert(record)
          if (this.misses.size >= MISS_MAX) this.misses.clear()
          this.misses.set(id, Date.now() + MISS_TTL_MS)
          return null
        })
        .finally(() => this.lookups.delete(id))
      this.lookups.set(id, pending)
    }
    return pending
  }

  /** The sale /buy/ticket sells: DEFAULT_SALE, or the only sale there is. */
  defaultDesk(defaultSale: string): SaleDesk | undefined {
    if (defaultSale !== '') return this.desks.get(defaultSale)
    return this.only
  }
}
