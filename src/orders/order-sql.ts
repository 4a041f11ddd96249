import { finished } from 'node:stream/promises'
import type { Pool, PoolClient } from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
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
 *
 * Two ways in, one meaning: rows given as arrays (`upsertOrders`, unnest) or copied into a
 * staging table first (`copyUpsertOrders`); both are this SELECT list and this ON CONFLICT
 * clause over the same nine columns (o, s, u, q, st, k, c, e, p), so they cannot drift apart.
 */
const ROW = `o, s, u, q, st, NULLIF(k, ''),
         to_timestamp(c / 1000.0), to_timestamp(e / 1000.0), to_timestamp(p / 1000.0)`
const ON_CONFLICT = `ON CONFLICT (order_id) DO UPDATE
     SET status = EXCLUDED.status, paid_at = EXCLUDED.paid_at, written_at = now()
   WHERE orders.status = 'reserved' AND EXCLUDED.status <> 'reserved'`

const UPSERT = `
  INSERT INTO orders (${COLUMNS})
  SELECT ${ROW}
    FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[],
                $7::bigint[], $8::bigint[], $9::bigint[]) AS t(o, s, u, q, st, k, c, e, p)
  ${ON_CONFLICT}`

/**
 * `prepared`: as a named statement, parsed and planned once per connection (the writer's small
 * transactions and one-row retries: PgSide, where the measurements are).
 */
export async function upsertOrders(
  db: Pool | PoolClient,
  orders: readonly OrderRecord[],
  prepared = false,
): Promise<number> {
  if (orders.length === 0) return 0
  const r = await db.query({ name: prepared ? 'seckill-upsert-orders' : undefined, text: UPSERT }, [
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

/**
 * The staging table of `copyUpsertOrders`: one per connection (TEMP), emptied by every COMMIT
 * (ON COMMIT DELETE ROWS truncates it in place: no dead rows pile up in a table autovacuum never
 * visits, and no catalog churn as a CREATE and DROP per batch would make). The columns are the
 * unnest arrays' types, so the text PostgreSQL refuses is refused the same way by both paths.
 */
const STAGING = `CREATE TEMP TABLE IF NOT EXISTS orders_staging
  (o text, s text, u text, q int, st text, k text, c bigint, e bigint, p bigint)
  ON COMMIT DELETE ROWS`
const COPY_STAGING = 'COPY pg_temp.orders_staging (o, s, u, q, st, k, c, e, p) FROM STDIN'
const UPSERT_STAGED = `
  INSERT INTO orders (${COLUMNS})
  SELECT ${ROW}
    FROM pg_temp.orders_staging
  ${ON_CONFLICT}`

/** Connections that hold the staging table (it lives as long as the connection). */
const staged = new WeakSet<PoolClient>()

/**
 * `upsertOrders` by COPY: the rows are copied (text format) into the connection's staging table,
 * then one INSERT … SELECT … ON CONFLICT moves them into `orders`. Must run inside a transaction
 * on `c` (the COMMIT empties the staging table); `orders` must hold each id once (collapse()).
 */
export async function copyUpsertOrders(
  c: PoolClient,
  orders: readonly OrderRecord[],
): Promise<number> {
  if (orders.length === 0) return 0
  try {
    if (!staged.has(c)) {
      await c.query(STAGING)
      staged.add(c)
    }
    await copyIn(c, COPY_STAGING, stagingText(orders))
    const r = await c.query(UPSERT_STAGED)
    return r.rowCount ?? 0
  } catch (err) {
    // The transaction that created the table may be the one rolled back: create it again.
    staged.delete(c)
    throw err
  }
}

/**
 * The benchmark's floor (bench/writer.ts): orders copied straight into `orders`, with no
 * staging table and no conflict handling (an order already there fails the whole COPY). Never
 * used by the writer.
 */
export async function copyNewOrders(c: PoolClient, orders: readonly OrderRecord[]): Promise<void> {
  let text = ''
  for (const o of orders) {
    text +=
      `${copyField(o.orderId)}\t${copyField(o.saleId)}\t${copyField(o.userId)}\t${o.quantity}\t` +
      `${copyField(o.status)}\t${o.idempotencyKey === '' ? '\\N' : copyField(o.idempotencyKey)}\t` +
      `${new Date(o.createdAt).toISOString()}\t${new Date(o.expiresAt).toISOString()}\t` +
      `${o.paidAt === null ? '\\N' : new Date(o.paidAt).toISOString()}\n`
  }
  await copyIn(c, `COPY orders (${COLUMNS}) FROM STDIN`, text)
}

async function copyIn(c: PoolClient, sql: string, text: string): Promise<void> {
  const stream = c.query(copyFrom(sql))
  stream.end(text)
  // 'finish' once PostgreSQL confirmed the COPY; 'error' (rejected here) when it refused it.
  await finished(stream)
}

/** The rows in COPY's text format, in the staging table's column order. */
export function stagingText(orders: readonly OrderRecord[]): string {
  let text = ''
  for (const o of orders) {
    text +=
      `${copyField(o.orderId)}\t${copyField(o.saleId)}\t${copyField(o.userId)}\t${o.quantity}\t` +
      `${copyField(o.status)}\t${copyField(o.idempotencyKey)}\t${o.createdAt}\t${o.expiresAt}\t` +
      `${o.paidAt === null ? '\\N' : o.paidAt}\n`
  }
  return text
}

const COPY_SPECIAL = /[\\\t\n\r]/
const COPY_ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  '\t': '\\t',
  '\n': '\\n',
  '\r': '\\r',
}

/**
 * A text value as a field of COPY's text format: backslash, tab, newline and carriage return
 * escaped (the only bytes the format gives a meaning; `\N`, NULL, can then never be produced by
 * a value). Other bytes PostgreSQL refuses in text (NUL) are refused by COPY as by unnest: a
 * data error, and the batch goes one row at a time.
 */
export function copyField(v: string): string {
  return COPY_SPECIAL.test(v) ? v.replace(/[\\\t\n\r]/g, (ch) => COPY_ESCAPES[ch]!) : v
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
