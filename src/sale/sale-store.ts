import { saleKeys, salesIndexKey } from '../store/keys'
import {
  type AdjustStockResult,
  callAdjustStock,
  type StockChange,
} from '../store/lua/adjust-stock'
import { callCreateSale, type SaleDefinitionArgs } from '../store/lua/create-sale'
import { callSetSaleState } from '../store/lua/set-sale-state'
import type { RedisClient } from '../store/redis-client'
import type { ScriptedRedis } from '../store/scripts'
import { parseSaleHash, type SaleRecord } from './sale-record'

/**
 * Sale rows in Redis: create, read, start, close, change the stock. One Redis round trip each
 * (plus TIME).
 */

/** A sale to create: its id and its definition. */
export interface NewSale extends SaleDefinitionArgs {
  readonly id: string
}

export type CreateOutcome = 'created' | 'exists'

export async function createSale(
  redis: ScriptedRedis,
  prefix: string,
  s: NewSale,
): Promise<CreateOutcome> {
  // The index entry goes first: it lives in another slot, and an index entry without a hash is
  // harmless (readers skip it), while a hash missing from the index would never be polled.
  await redis.sadd(salesIndexKey(prefix), s.id)
  const r = await callCreateSale(redis, prefix, s.id, s)
  if (r.outcome === 'bad_request') {
    throw new Error(`createSale-1.lua refused argument ${r.field} after validation passed`)
  }
  return r.outcome
}

export async function readSale(
  redis: RedisClient,
  prefix: string,
  id: string,
): Promise<SaleRecord | null> {
  return parseSaleHash(id, await redis.hgetall(saleKeys(prefix, id).sale))
}

/**
 * Read many sales in one round trip (every HGETALL written before a reply is awaited: a pipeline
 * object would be confined to one slot on a Redis Cluster, and each sale has its own); missing
 * ones are left out.
 */
export async function readSales(
  redis: RedisClient,
  prefix: string,
  ids: readonly string[],
): Promise<SaleRecord[]> {
  const hashes = await Promise.all(ids.map((id) => redis.hgetall(saleKeys(prefix, id).sale)))
  const out: SaleRecord[] = []
  hashes.forEach((h, i) => {
    const rec = parseSaleHash(ids[i]!, h)
    if (rec) out.push(rec)
  })
  return out
}

export async function listSaleIds(redis: RedisClient, prefix: string): Promise<string[]> {
  return redis.smembers(salesIndexKey(prefix))
}

export type StateOutcome = 'ok' | 'closed' | 'not_found'

export async function setSaleState(
  redis: ScriptedRedis,
  prefix: string,
  id: string,
  action: 'start' | 'close',
): Promise<StateOutcome> {
  const outcome = await callSetSaleState(redis, prefix, id, action)
  if (outcome === 'bad_request') throw new Error(`setSaleState-1.lua refused action ${action}`)
  return outcome
}

export type StockOutcome = Exclude<AdjustStockResult, { readonly outcome: 'bad_request' }>

/** Add units to a sale's stock or remove unsold ones, atomically with its purchases. */
export async function adjustStock(
  redis: ScriptedRedis,
  prefix: string,
  id: string,
  change: StockChange,
): Promise<StockOutcome> {
  const r = await callAdjustStock(redis, prefix, id, change)
  if (r.outcome === 'bad_request') {
    throw new Error(`adjustStock-1.lua refused argument ${r.field} after validation passed`)
  }
  return r
}
