import type { Pool, PoolClient } from 'pg'
import type { SaleRecord } from './sale-record'
import type { NewSale } from './sale-store'

/**
 * Every SQL statement on the `sales` table, in one place. The table is a copy of each sale's
 * definition, kept by the primary's sale watch (cluster/sale-mirror.ts) off the purchase path:
 * Redis stays the authority while it has the sale; the copy is what `seckill restore` rebuilds
 * a sale from when Redis lost it. Times are epoch milliseconds in JavaScript, timestamptz here.
 */

/** What the table keeps of a sale: its definition and gate, not its counters. */
export interface SaleDefinition extends NewSale {
  readonly started: boolean
  readonly closed: boolean
  readonly createdAt: number
}

export function saleDefinition(s: SaleRecord): SaleDefinition {
  return {
    id: s.id,
    name: s.name,
    stock: s.stock,
    perUserLimit: s.perUserLimit,
    startsAt: s.startsAt,
    endsAt: s.endsAt,
    paymentTtlSeconds: s.paymentTtlSeconds,
    started: s.started,
    closed: s.closed,
    createdAt: s.createdAt,
  }
}

const COLUMNS =
  'sale_id, name, stock, per_user_limit, starts_at, ends_at, payment_ttl_seconds, started, ' +
  'closed, created_at'

/**
 * Insert or update one sale's row; a row that already says the same is not touched (updated_at
 * tells when the definition last changed). Each node offers the newest copy it has seen, so the
 * nodes' upserts converge on Redis's state whatever order they arrive in.
 */
const UPSERT = `
  INSERT INTO sales (${COLUMNS})
  VALUES ($1, $2, $3, $4, to_timestamp($5::bigint / 1000.0), to_timestamp($6::bigint / 1000.0),
          $7, $8, $9, to_timestamp($10::bigint / 1000.0))
  ON CONFLICT (sale_id) DO UPDATE
     SET name = EXCLUDED.name, stock = EXCLUDED.stock, per_user_limit = EXCLUDED.per_user_limit,
         starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,
         payment_ttl_seconds = EXCLUDED.payment_ttl_seconds, started = EXCLUDED.started,
         closed = EXCLUDED.closed, created_at = EXCLUDED.created_at, updated_at = now()
   WHERE (sales.name, sales.stock, sales.per_user_limit, sales.starts_at, sales.ends_at,
          sales.payment_ttl_seconds, sales.started, sales.closed, sales.created_at)
         IS DISTINCT FROM
         (EXCLUDED.name, EXCLUDED.stock, EXCLUDED.per_user_limit, EXCLUDED.starts_at,
          EXCLUDED.ends_at, EXCLUDED.payment_ttl_seconds, EXCLUDED.started, EXCLUDED.closed,
          EXCLUDED.created_at)`

/** Returns whether a row was inserted or changed. */
export async function upsertSale(db: Pool | PoolClient, d: SaleDefinition): Promise<boolean> {
  const r = await db.query(UPSERT, [
    d.id,
    d.name,
    d.stock,
    d.perUserLimit,
    d.startsAt,
    d.endsAt,
    d.paymentTtlSeconds,
    d.started,
    d.closed,
    d.createdAt,
  ])
  return (r.rowCount ?? 0) > 0
}

interface SaleRow {
  sale_id: string
  name: string
  stock: string
  per_user_limit: number
  starts_at: Date | null
  ends_at: Date | null
  payment_ttl_seconds: number
  started: boolean
  closed: boolean
  created_at: Date
}

export async function findSaleDefinition(
  db: Pool | PoolClient,
  saleId: string,
): Promise<SaleDefinition | null> {
  const r = await db.query<SaleRow>(`SELECT ${COLUMNS} FROM sales WHERE sale_id = $1`, [saleId])
  const row = r.rows[0]
  if (!row) return null
  return {
    id: row.sale_id,
    name: row.name,
    // bigint comes back as a string (node-postgres keeps 64-bit values exact); stock fits a double.
    stock: Number(row.stock),
    perUserLimit: row.per_user_limit,
    startsAt: row.starts_at ? row.starts_at.getTime() : null,
    endsAt: row.ends_at ? row.ends_at.getTime() : null,
    paymentTtlSeconds: row.payment_ttl_seconds,
    started: row.started,
    closed: row.closed,
    createdAt: row.created_at.getTime(),
  }
}

/** Every sale id the table holds, sorted. */
export async function saleIdsInPg(db: Pool | PoolClient): Promise<string[]> {
  const r = await db.query<{ sale_id: string }>('SELECT sale_id FROM sales ORDER BY sale_id')
  return r.rows.map((row) => row.sale_id)
}
