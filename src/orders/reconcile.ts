import type { Pool } from 'pg'
import { log } from '../log'
import { saleKeys } from '../store/keys'
import { callRecountSale } from '../store/lua/recount-sale'
import type { ScriptedRedis } from '../store/scripts'
import { isLive, type OrderRecord, orderFromEntry, orderFromHash } from './order-record'
import { deleteOrders, findOrders, ordersOfSale, overwriteOrders, upsertOrders } from './order-sql'

/**
 * The data-control module (the Redis article's name for it): compares one sale's orders in
 * PostgreSQL with Redis — the orders hash (every order Redis ever made, with its newest state),
 * the sold counter and the per-user counters — and reports the drift. Orders still in the stream
 * are on their way to PostgreSQL and are not drift. Repair makes PostgreSQL and the counters agree
 * with Redis's orders, which decided every purchase and every change of state.
 */
export interface DriftReport {
  readonly saleId: string
  /** the sale's hash is gone from Redis (Redis lost its data): nothing is compared or repaired */
  readonly saleMissingInRedis: boolean
  /** made by Redis, written (XACKed) but not in PostgreSQL: an order lost (I4) */
  readonly missingInPg: readonly OrderRecord[]
  /** in PostgreSQL, never made by Redis (I5) */
  readonly phantomsInPg: readonly OrderRecord[]
  /** in PostgreSQL, created before the current Redis sale existed: left alone, reported only */
  readonly olderThanRedisSale: readonly OrderRecord[]
  /** PostgreSQL's state differs from Redis's, and no change is on its way */
  readonly statusMismatch: readonly { readonly redis: OrderRecord; readonly pg: OrderRecord }[]
  /** Redis's sold counter against the units of its live orders */
  readonly sold: { readonly counter: number; readonly live: number }
  /** users whose held-units counter differs from the units of their live orders */
  readonly usersMismatch: number
  /** users holding more live units than perUserLimit (I3) */
  readonly overLimitUsers: readonly string[]
  /** stream entries not yet in PostgreSQL (in flight, not drift) */
  readonly inFlight: number
  /**
   * cancelled or expired orders PostgreSQL has and Redis has forgotten (pruneOrders-3.lua after
   * ORDER_RETENTION_S): not drift, and never deleted by a repair
   */
  readonly prunedInRedis: number
}

export function driftKinds(r: DriftReport): Record<string, number> {
  return {
    missing_in_pg: r.missingInPg.length,
    phantom_in_pg: r.phantomsInPg.length,
    older_than_redis_sale: r.olderThanRedisSale.length,
    status_mismatch: r.statusMismatch.length,
    sold_counter: r.sold.counter - r.sold.live,
    users_counter: r.usersMismatch,
    over_limit: r.overLimitUsers.length,
  }
}

export function hasDrift(r: DriftReport): boolean {
  return r.saleMissingInRedis || Object.values(driftKinds(r)).some((n) => n !== 0)
}

interface RedisView {
  readonly exists: boolean
  readonly createdAt: number
  readonly perUserLimit: number
  readonly sold: number
  readonly orders: Map<string, OrderRecord>
  readonly users: Record<string, string>
  /** order ids with an entry still in the stream */
  readonly inFlight: Set<string>
  readonly streamLength: number
}

/** One atomic snapshot (MULTI) of everything Redis holds for the sale. */
async function redisView(redis: ScriptedRedis, prefix: string, saleId: string): Promise<RedisView> {
  const k = saleKeys(prefix, saleId)
  const r = await redis
    .multi()
    .hmget(k.sale, 'stock', 'sold', 'perUserLimit', 'createdAt')
    .hgetall(k.orders)
    .hgetall(k.users)
    .xrange(k.stream, '-', '+')
    .exec()
  if (!r) throw new Error('the Redis snapshot transaction was discarded')
  for (const [err] of r) if (err) throw err
  const sale = r[0]![1] as (string | null)[]
  const hash = r[1]![1] as Record<string, string>
  const entries = r[3]![1] as [string, string[]][]
  const orders = new Map<string, OrderRecord>()
  for (const [id, value] of Object.entries(hash)) orders.set(id, orderFromHash(id, saleId, value))
  const inFlight = new Set<string>()
  for (const [, fields] of entries) {
    const o = orderFromEntry(saleId, fields)
    if (typeof o !== 'string') inFlight.add(o.orderId)
  }
  return {
    exists: sale[0] !== null,
    createdAt: Number(sale[3] ?? 0),
    perUserLimit: Number(sale[2] ?? 1),
    sold: Number(sale[1] ?? 0),
    orders,
    users: r[2]![1] as Record<string, string>,
    inFlight,
    streamLength: entries.length,
  }
}

function same(a: OrderRecord, b: OrderRecord): boolean {
  return (
    a.status === b.status &&
    a.paidAt === b.paidAt &&
    a.userId === b.userId &&
    a.quantity === b.quantity
  )
}

/** Compare one sale; reads PostgreSQL before Redis, so an order made in between is no phantom. */
export async function auditSale(
  redis: ScriptedRedis,
  pg: Pool,
  prefix: string,
  saleId: string,
): Promise<DriftReport> {
  const pgOrders = new Map((await ordersOfSale(pg, saleId)).map((o) => [o.orderId, o]))
  const rv = await redisView(redis, prefix, saleId)
  const empty: DriftReport = {
    saleId,
    saleMissingInRedis: !rv.exists,
    missingInPg: [],
    phantomsInPg: [],
    olderThanRedisSale: [],
    statusMismatch: [],
    sold: { counter: rv.sold, live: rv.sold },
    usersMismatch: 0,
    overLimitUsers: [],
    inFlight: rv.streamLength,
    prunedInRedis: 0,
  }
  if (!rv.exists) return empty

  // PostgreSQL was read first and Redis forgets only cancelled and expired orders PostgreSQL
  // already holds (after ORDER_RETENTION_S): any other order PostgreSQL has and Redis lacks is
  // certain, no race can explain it. A forgotten order holds no units, so no counter needs it.
  const phantomsInPg: OrderRecord[] = []
  const olderThanRedisSale: OrderRecord[] = []
  let prunedInRedis = 0
  for (const o of pgOrders.values()) {
    if (rv.orders.has(o.orderId)) continue
    if (o.status === 'cancelled' || o.status === 'expired') {
      prunedInRedis++
      continue
    }
    if (o.createdAt < rv.createdAt) olderThanRedisSale.push(o)
    else phantomsInPg.push(o)
  }

  // An order may have reached PostgreSQL (and left the stream) between the two reads: candidates
  // are read again from PostgreSQL after the Redis snapshot.
  const candidates: string[] = []
  for (const [id, o] of rv.orders) {
    if (rv.inFlight.has(id)) continue
    const row = pgOrders.get(id)
    if (!row || !same(row, o)) candidates.push(id)
  }
  const missingInPg: OrderRecord[] = []
  const statusMismatch: { redis: OrderRecord; pg: OrderRecord }[] = []
  if (candidates.length > 0) {
    const again = new Map((await findOrders(pg, candidates)).map((o) => [o.orderId, o]))
    const now = await redisView(redis, prefix, saleId)
    for (const id of candidates) {
      const o = now.orders.get(id)!
      if (now.inFlight.has(id)) continue
      const row = again.get(id)
      if (!row) missingInPg.push(o)
      else if (!same(row, o)) statusMismatch.push({ redis: o, pg: row })
    }
  }

  let live = 0
  const held = new Map<string, number>()
  for (const o of rv.orders.values()) {
    if (!isLive(o.status)) continue
    live += o.quantity
    if (o.userId !== '') held.set(o.userId, (held.get(o.userId) ?? 0) + o.quantity)
  }
  let usersMismatch = 0
  for (const [user, units] of Object.entries(rv.users)) {
    if (held.get(user) !== Number(units)) usersMismatch++
  }
  for (const user of held.keys()) if (rv.users[user] === undefined) usersMismatch++
  const overLimitUsers = [...held].filter(([, n]) => n > rv.perUserLimit).map(([u]) => u)

  return {
    ...empty,
    missingInPg,
    phantomsInPg,
    olderThanRedisSale,
    statusMismatch,
    sold: { counter: rv.sold, live },
    usersMismatch,
    overLimitUsers,
    prunedInRedis,
  }
}

export interface RepairResult {
  readonly inserted: number
  readonly overwritten: number
  readonly deleted: number
  /** [sold before, sold after, users changed] from recountSale-3.lua, or null when not run */
  readonly recount: readonly number[] | null
}

/** Make PostgreSQL and the counters agree with Redis's orders, as found by `auditSale`. */
export async function repairSale(
  redis: ScriptedRedis,
  pg: Pool,
  prefix: string,
  r: DriftReport,
): Promise<RepairResult> {
  if (r.saleMissingInRedis) {
    return { inserted: 0, overwritten: 0, deleted: 0, recount: null }
  }
  const inserted = await upsertOrders(pg, r.missingInPg)
  const overwritten = await overwriteOrders(
    pg,
    r.statusMismatch.map((m) => m.redis),
  )
  const removed =
    r.phantomsInPg.length > 0
      ? await deleteOrders(
          pg,
          r.phantomsInPg.map((o) => o.orderId),
        )
      : []
  for (const o of removed) {
    // The whole row goes to the log: a person can put it back if Redis was the one that was wrong.
    log.warn({ order: o }, 'reconcile: deleted a phantom order (PostgreSQL only, never in Redis)')
  }
  let recount: number[] | null = null
  if (r.sold.counter !== r.sold.live || r.usersMismatch > 0) {
    const c = await callRecountSale(redis, prefix, r.saleId)
    // not_found: the sale's hash went away since the audit; nothing was recounted.
    if (c.outcome === 'recounted') recount = [c.soldBefore, c.soldAfter, c.usersChanged]
  }
  return { inserted, overwritten, deleted: removed.length, recount }
}
