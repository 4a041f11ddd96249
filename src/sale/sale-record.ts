/**
 * A sale as stored in its Redis hash, and what the API shows of it. Pure: no I/O.
 */
export interface SaleRecord {
  readonly id: string
  readonly name: string
  readonly stock: number
  readonly sold: number
  readonly perUserLimit: number
  /** epoch ms, or null: starts only when started by hand */
  readonly startsAt: number | null
  /** epoch ms, or null: no end */
  readonly endsAt: number | null
  readonly paymentTtlSeconds: number
  readonly started: boolean
  readonly closed: boolean
  /**
   * units that came (back) on sale after creation: cancelled and expired orders, a recount, stock
   * added mid-sale. A counter that only rises, so a copy or grant with a lower one is older.
   */
  readonly returned: number
  /** epoch ms on Redis's clock when the sale was created (kept in PostgreSQL's sales table) */
  readonly createdAt: number
}

export type SaleState = 'scheduled' | 'open' | 'sold_out' | 'closed'

/** The gate of reserve-6.lua, on a possibly stale record: 'open', 'not_started' or 'closed'. */
export function saleGate(s: SaleRecord, nowMs: number): 'open' | 'not_started' | 'closed' {
  if (s.closed || (s.endsAt !== null && nowMs >= s.endsAt)) return 'closed'
  if (s.started || (s.startsAt !== null && nowMs >= s.startsAt)) return 'open'
  return 'not_started'
}

export function saleState(s: SaleRecord, nowMs: number): SaleState {
  const gate = saleGate(s, nowMs)
  if (gate === 'closed') return 'closed'
  if (gate === 'not_started') return 'scheduled'
  return s.sold >= s.stock ? 'sold_out' : 'open'
}

/** Parse HGETALL of a sale hash; null when the hash is missing. */
export function parseSaleHash(id: string, h: Record<string, string>): SaleRecord | null {
  if (h.stock === undefined) return null
  return {
    id,
    name: h.name ?? '',
    stock: Number(h.stock),
    sold: Number(h.sold ?? 0),
    perUserLimit: Number(h.perUserLimit ?? 1),
    startsAt: h.startsAt ? Number(h.startsAt) : null,
    endsAt: h.endsAt ? Number(h.endsAt) : null,
    paymentTtlSeconds: Number(h.ttl ?? 300),
    started: h.started === '1',
    closed: h.closed === '1',
    returned: Number(h.returned ?? 0),
    createdAt: Number(h.createdAt ?? 0),
  }
}

/** The body of GET /api/v1/sales/:id. */
export function saleView(s: SaleRecord, nowMs: number) {
  return {
    id: s.id,
    name: s.name,
    state: saleState(s, nowMs),
    stock: s.stock,
    sold: s.sold,
    remaining: Math.max(0, s.stock - s.sold),
    perUserLimit: s.perUserLimit,
    startsAt: s.startsAt === null ? null : new Date(s.startsAt).toISOString(),
    endsAt: s.endsAt === null ? null : new Date(s.endsAt).toISOString(),
    paymentTtlSeconds: s.paymentTtlSeconds,
  }
}
