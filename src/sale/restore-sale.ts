import { randomBytes } from 'node:crypto'
import type { Pool, PoolClient } from 'pg'
import { inTransaction } from '../db/pg'
import type { OrderStatus } from '../orders/order-record'
import { ordersOfSalePage } from '../orders/order-sql'
import { saleKeys, salesIndexKey, WRITER_GROUP } from '../store/keys'
import { callRestoreSale, type RestoreSaleResult } from '../store/lua/restore-sale'
import type { ScriptedRedis } from '../store/scripts'
import { findSaleDefinition, type SaleDefinition } from './sale-sql'

/**
 * Rebuilds a sale in Redis from PostgreSQL after Redis lost its data (`seckill restore`): the
 * definition from the `sales` table, every order from `orders`, sent chunk by chunk to
 * restoreSale-6.lua, which counts sold and each user's units from them, lists the cancelled and
 * expired ones for pruneOrders-3.lua, and leaves the sale invisible until the last chunk and not
 * started after it. Orders that were still in the lost order stream never reached PostgreSQL and
 * cannot come back.
 */

/**
 * Orders per Lua call: 8 values each (4,000 arguments), a few milliseconds of Redis per call, so
 * a restore never blocks buyers of the other sales for long.
 */
export const RESTORE_CHUNK = 500

export interface RestoreCounts {
  /** orders new to Redis */
  added: number
  /** orders Redis showed reserved and PostgreSQL holds final (merge) */
  advanced: number
  /** orders Redis had already, left as they are */
  kept: number
  /** restoreSale-6.lua calls */
  calls: number
  /** orders read from PostgreSQL, by status */
  byStatus: Record<OrderStatus, number>
}

/** What Redis holds for the sale once the restore is done. */
export interface RedisAfter {
  readonly stock: number
  readonly sold: number
  readonly orders: number
  /** users holding units */
  readonly users: number
  readonly idempotencyKeys: number
  /** reserved orders with a payment deadline */
  readonly deadlines: number
}

export type RestoreOutcome =
  | {
      readonly kind: 'restored'
      readonly saleId: string
      /** an unfinished restore (a crash between chunks) was finished */
      readonly resumed: boolean
      readonly definition: SaleDefinition
      readonly counts: RestoreCounts
      readonly after: RedisAfter
    }
  | {
      readonly kind: 'merged'
      readonly saleId: string
      readonly counts: RestoreCounts
      readonly after: RedisAfter
    }
  /** the sale exists in Redis and merge was not asked for: nothing changed */
  | {
      readonly kind: 'exists'
      readonly saleId: string
      readonly stock: number
      readonly sold: number
    }
  /** PostgreSQL has no definition of the sale: nothing changed */
  | { readonly kind: 'no_definition'; readonly saleId: string; readonly hasOrders: boolean }

export interface RestoreOptions {
  /** add to a sale that exists in Redis instead of refusing it */
  readonly merge: boolean
  readonly chunk?: number
}

type Mode = 'create' | 'append' | 'merge'

export async function restoreSale(
  redis: ScriptedRedis,
  pg: Pool,
  prefix: string,
  saleId: string,
  opts: RestoreOptions,
): Promise<RestoreOutcome> {
  const k = saleKeys(prefix, saleId)
  const chunk = opts.chunk ?? RESTORE_CHUNK
  const [stock = null, sold = null, restoredBy = null] = await redis.hmget(
    k.sale,
    'stock',
    'sold',
    'restoredBy',
  )
  let mode: Mode
  let token = randomBytes(12).toString('base64url')
  if (stock !== null) {
    if (!opts.merge)
      return { kind: 'exists', saleId, stock: Number(stock), sold: Number(sold ?? 0) }
    mode = 'merge'
  } else if (restoredBy !== null) {
    // A restore that stopped between chunks: finish it under its own token. Its chunks are sent
    // again from the first; orders already there are not counted twice.
    mode = 'append'
    token = restoredBy
  } else {
    mode = 'create'
  }

  return inTransaction(pg, async (c: PoolClient) => {
    // One snapshot of PostgreSQL for the whole restore: the definition and every page agree,
    // whatever a writer commits meanwhile (a later `--merge` adds what came after).
    await c.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY')
    const definition = await findSaleDefinition(c, saleId)
    if (!definition && mode !== 'merge') {
      const any = await ordersOfSalePage(c, saleId, '', 1)
      return { kind: 'no_definition', saleId, hasOrders: any.length > 0 }
    }
    // The index entry goes first, as in createSale: it lives in another slot, and an entry
    // without a hash is harmless, while a hash missing from the index would never be polled.
    if (mode === 'create') await redis.sadd(salesIndexKey(prefix), saleId)

    const counts: RestoreCounts = {
      added: 0,
      advanced: 0,
      kept: 0,
      calls: 0,
      byStatus: { reserved: 0, paid: 0, cancelled: 0, expired: 0 },
    }
    let page = await ordersOfSalePage(c, saleId, '', chunk)
    for (;;) {
      // Read one page ahead: the call that sends the last page must say it is the last.
      const next =
        page.length === chunk ? await ordersOfSalePage(c, saleId, page.at(-1)!.orderId, chunk) : []
      const last = next.length === 0
      const reply = await callRestoreSale(redis, prefix, saleId, {
        mode,
        token,
        last,
        definition: mode === 'create' ? definition : null,
        orders: page,
      })
      if (reply.outcome === 'exists' && counts.calls === 0) {
        // Created by someone else between the check above and this call.
        const [s, n] = await redis.hmget(k.sale, 'stock', 'sold')
        return { kind: 'exists', saleId, stock: Number(s), sold: Number(n) }
      }
      if (reply.outcome !== 'done') throw new Error(refusal(saleId, reply))
      counts.calls++
      counts.added += reply.added
      counts.advanced += reply.advanced
      counts.kept += reply.kept
      for (const o of page) counts.byStatus[o.status]++
      // The first chunk made the sale hash; later ones append to it under the same token.
      if (mode === 'create') mode = 'append'
      if (last) break
      page = next
    }

    await ensureWriterGroup(redis, k.stream)
    const after = await redisAfter(redis, prefix, saleId)
    if (opts.merge && stock !== null) return { kind: 'merged', saleId, counts, after }
    return {
      kind: 'restored',
      saleId,
      resumed: restoredBy !== null && stock === null,
      definition: definition!,
      counts,
      after,
    }
  })
}

function refusal(saleId: string, r: Exclude<RestoreSaleResult, { outcome: 'done' }>): string {
  switch (r.outcome) {
    case 'not_found':
      return `sale ${saleId} disappeared from Redis during the restore`
    case 'restore_elsewhere':
      return (
        `another restore of sale ${saleId} is under way or unfinished; run ` +
        `\`seckill restore --sale ${saleId}\` again once it has stopped: it finishes it`
      )
    case 'stray_keys':
      return (
        `Redis holds orders, users, idempotency keys or deadlines of sale ${saleId} but no sale ` +
        'hash: counting on top of them could oversell. Look at them ' +
        `(redis-cli --scan --pattern '*{${saleId}}:*'; on a Redis Cluster against the master ` +
        `of the sale's slot, redis-cli CLUSTER KEYSLOT '{${saleId}}'), delete them, and restore again`
      )
    case 'bad_request':
      return `restoreSale-6.lua refused the argument ${r.field}`
    case 'exists':
      return 'restoreSale-6.lua answered exists after the first chunk'
  }
}

/**
 * The writer's consumer group on the sale's stream, from id 0. A node that kept running while
 * Redis lost its data remembers having made the group and would read the new stream with
 * NOGROUP forever; pay and cancel of restored orders append to that stream.
 */
async function ensureWriterGroup(redis: ScriptedRedis, stream: string): Promise<void> {
  try {
    await redis.xgroup('CREATE', stream, WRITER_GROUP, '0', 'MKSTREAM')
  } catch (err) {
    if (!/BUSYGROUP/.test((err as Error).message)) throw err
  }
}

async function redisAfter(redis: ScriptedRedis, prefix: string, saleId: string) {
  const k = saleKeys(prefix, saleId)
  const r = await redis
    .multi()
    .hmget(k.sale, 'stock', 'sold')
    .hlen(k.orders)
    .hlen(k.users)
    .hlen(k.idem)
    .zcard(k.expiry)
    .exec()
  if (!r) throw new Error('the Redis transaction was discarded')
  for (const [err] of r) if (err) throw err
  const [stock, sold] = r[0]![1] as (string | null)[]
  return {
    stock: Number(stock),
    sold: Number(sold),
    orders: r[1]![1] as number,
    users: r[2]![1] as number,
    idempotencyKeys: r[3]![1] as number,
    deadlines: r[4]![1] as number,
  }
}
