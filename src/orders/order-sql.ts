import type { Pool, PoolClient } from 'pg'
import type { OrderRecord, OrderStatus } from './order-record'

/**
 * Every SQL statement on the `orders` table, in one place. Times are epoch milliseconds on the
 * JavaScript side and timestamptz in PostgreSQL.
 */

const COLUMNS =
  'order_id, sale_id, user_id, quantity, status, idempotency_key, created_at, expires_at, paid_at'

/**
 * Write orders idempotently, in one statement: a new order is inserted; an order already there
 * moves from reserved to its final state; nothing else changes (a re-sent creation never undoes
 * a payment). Only a conflict on order_id is absorbed: any other unique violation is an error,
 * never a silently dropped order. `orders` must hold each id once (collapse()).
 */
const UPSERT = `
  INSERT INTO orders (${COLUMNS})
  SELECT o, s, u, q, st, NULLIF(k, ''),
         to_timestamp(c / 1000.0), to_timestamp(e / 1000.0), to_timestamp(p / 1000.0)
    FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[],
                $7::bigint[], $8::bigint[], $9::bigint[]) AS t(o, s, u, q, st, k, c, e, p)
  ON CONFLICT (order_id) DO UPDATE
     SET status = EXCLUDED.status, paid_at = EXCLUDED.paid_at, written_at = now()
   WHERE orders.status = 'reserved' AND EXCLUDED.status <> 'reserved'`

export async function upsertOrders(
  db: Pool | PoolClient,
  orders: readonly OrderRecord[],
): Promise<number> {
  if (orders.length === 0) return 0
  const r = await db.query(UPSERT, [
    orders.map((o) => o.orderId),
    orders.map((o) => o.saleId),
    orders.map((o) => o.userId),
    orders.map((o) => o.quantity),
    orders.map((o) => o.status),
    orders.map((o) => o.idempotencyKey),
    orders.map((o) => o.createdAt),
    orders.map((o) => o.expiresAt),
    orders.map((o) => o.paidAt),
  ])
  return r.rowCount ?? 0
}

interface OrderRow {
  order_id: string
  sale_id: string
  user_id: string
  quantity: number
  status: OrderStatus
  idempotency_key: string | null
  created_at: Date
  expires_at: Date
  paid_at: Date | null
}

function fromRow(r: OrderRow): OrderRecord {
  return {
    orderId: r.order_id,
    saleId: r.sale_id,
    userId: r.user_id,
    quantity: r.quantity,
    status: r.status,
    idempotencyKey: r.idempotency_key ?? '',
    createdAt: r.created_at.getTime(),
    expiresAt: r.expires_at.getTime(),
    paidAt: r.paid_at ? r.paid_at.getTime() : null,
  }
}

export async function findOrder(db: Pool, orderId: string): Promise<OrderRecord | null> {
  const r = await db.query<OrderRow>(`SELECT ${COLUMNS} FROM orders WHERE order_id = $1`, [orderId])
  return r.rows[0] ? fromRow(r.rows[0]) : null
}

export async function findOrders(db: Pool, orderIds: readonly string[]): Promise<OrderRecord[]> {
  const r = await db.query<OrderRow>(`SELECT ${COLUMNS} FROM orders WHERE order_id = ANY($1)`, [
    orderIds,
  ])
  return r.rows.map(fromRow)
}

export async function ordersOfSale(db: Pool, saleId: string): Promise<OrderRecord[]> {
  const r = await db.query<OrderRow>(`SELECT ${COLUMNS} FROM orders WHERE sale_id = $1`, [saleId])
  return r.rows.map(fromRow)
}

/**
 * One page of a sale's orders in order_id order, after `afterOrderId` ('' for the first page):
 * `seckill restore` reads a sale of any size a page at a time (keyset paging: each page is one
 * range of the primary key, whatever the sale's size).
 */
export async function ordersOfSalePage(
  db: Pool | PoolClient,
  saleId: string,
  afterOrderId: string,
  limit: number,
): Promise<OrderRecord[]> {
  const r = await db.query<OrderRow>(
    `SELECT ${COLUMNS} FROM orders WHERE sale_id = $1 AND order_id > $2 ORDER BY order_id LIMIT $3`,
    [saleId, afterOrderId, limit],
  )
  return r.rows.map(fromRow)
}

/** Remove orders PostgreSQL holds but Redis never sold (phantoms); returns what was removed. */
export async function deleteOrders(db: Pool, orderIds: readonly string[]): Promise<OrderRecord[]> {
  const r = await db.query<OrderRow>(
    `DELETE FROM orders WHERE order_id = ANY($1) RETURNING ${COLUMNS}`,
    [orderIds],
  )
  return r.rows.map(fromRow)
}

/** Overwrite orders with the given state (reconciler repair: Redis is the authority). */
export async function overwriteOrders(db: Pool, orders: readonly OrderRecord[]): Promise<number> {
  if (orders.length === 0) return 0
  const r = await db.query(
    `UPDATE orders SET status = t.st, paid_at = to_timestamp(t.p / 1000.0), written_at = now()
       FROM unnest($1::text[], $2::text[], $3::bigint[]) AS t(o, st, p)
      WHERE orders.order_id = t.o`,
    [orders.map((o) => o.orderId), orders.map((o) => o.status), orders.map((o) => o.paidAt)],
  )
  return r.rowCount ?? 0
}
