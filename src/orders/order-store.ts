import type { Pool } from 'pg'
import { saleKeys } from '../store/keys'
import { callSettleOrder } from '../store/lua/settle-order'
import type { RedisClient } from '../store/redis-client'
import type { ScriptedRedis } from '../store/scripts'
import { isFinal, type OrderRecord, orderFromHash } from './order-record'
import { findOrder } from './order-sql'

/**
 * Reading and changing one order for the API. PostgreSQL is the record; Redis decides every
 * change (settleOrder-5.lua) and holds the newest state until the writer has copied it, so a
 * row still `reserved` in PostgreSQL is checked against Redis, and an order not yet written is
 * read from Redis alone.
 */
export async function lookupOrder(
  pg: Pool,
  redis: RedisClient,
  prefix: string,
  saleId: string,
  orderId: string,
): Promise<OrderRecord | null> {
  let row: OrderRecord | null = null
  let pgError: Error | null = null
  try {
    row = await findOrder(pg, orderId)
  } catch (err) {
    pgError = err as Error
  }
  if (row && isFinal(row.status)) return row
  let stored: string | null
  try {
    stored = await redis.hget(saleKeys(prefix, saleId).orders, orderId)
  } catch (err) {
    // Redis cannot say whether a reserved row has changed since: PostgreSQL's row is the record.
    if (row) return row
    throw pgError ?? err
  }
  if (stored !== null) return orderFromHash(orderId, saleId, stored)
  if (pgError) throw pgError
  return row
}

/** What a pay or cancel came to. */
export type SettleOutcome =
  | { readonly code: 'done' | 'already'; readonly order: OrderRecord }
  | { readonly code: 'expired' | 'cancelled' | 'paid'; readonly order: OrderRecord }
  | { readonly code: 'not_found' }
  /** Redis no longer holds a reserved order PostgreSQL has: nobody can decide it safely */
  | { readonly code: 'unknown_to_redis'; readonly order: OrderRecord }

export async function settleOrder(
  redis: ScriptedRedis,
  pg: Pool,
  prefix: string,
  saleId: string,
  orderId: string,
  action: 'pay' | 'cancel',
): Promise<SettleOutcome> {
  const r = await callSettleOrder(redis, prefix, saleId, orderId, action)
  if (r.outcome === 'bad_request') {
    throw new Error(`settleOrder-5.lua refused ${action} of order ${orderId}`)
  }
  if (r.outcome !== 'not_found') {
    return { code: r.outcome, order: orderFromHash(orderId, saleId, r.orderValue) }
  }
  // Not in Redis: PostgreSQL may still hold it (Redis lost its data); a final state answers.
  const row = await findOrder(pg, orderId)
  if (!row) return { code: 'not_found' }
  if (!isFinal(row.status)) return { code: 'unknown_to_redis', order: row }
  const wanted = action === 'pay' ? 'paid' : 'cancelled'
  if (row.status === wanted) return { code: 'already', order: row }
  return { code: row.status as 'expired' | 'cancelled' | 'paid', order: row }
}
