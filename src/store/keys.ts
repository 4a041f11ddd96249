/**
 * Every Redis key name is built here and nowhere else. Per-sale keys carry the `{saleId}` hash
 * tag, so each script's keys hash to one slot and stay valid on Redis Cluster.
 */
export interface SaleKeys {
  /**
   * hash: name, stock, sold, perUserLimit, startsAt, endsAt, ttl, started, closed, createdAt,
   * returned; a sale rebuilt by restoreSale-6.lua also has restoredBy, and restoreStock instead
   * of stock until its last chunk
   */
  readonly sale: string
  /** hash: userId -> units held */
  readonly users: string
  /** hash: "<len(userId)>:<userId><idempotency key>" -> orderId */
  readonly idem: string
  /**
   * hash: orderId -> the order's record, one line (native-lua/includes/orderRecord.lua, mirrored
   * by src/orders/order-record.ts); an order an earlier version wrote and nothing has changed
   * since is still its JSON, which both read
   */
  readonly orders: string
  /** stream: one entry per new order and per change of state, the hand-off to the order writer */
  readonly stream: string
  /** zset: orderId -> expiresAt (epoch ms) of every reserved order, read by the expiry sweep */
  readonly expiry: string
  /** stream: entries the order writer gave up on, with the error, for a person to look at */
  readonly dead: string
  /**
   * zset: orderId -> epoch ms it became final, for cancelled and expired orders PostgreSQL holds
   * in that state; pruneOrders-3.lua forgets them after ORDER_RETENTION_S
   */
  readonly final: string
  /**
   * pub/sub channel (not a key): the scripts that append to `stream` publish on it in the same
   * atomic call, so every node's order writer reads the stream at once instead of polling it
   */
  readonly bell: string
}

/** The order writers' consumer group on every sale's stream. */
export const WRITER_GROUP = 'writers'

export function saleKeys(prefix: string, saleId: string): SaleKeys {
  const base = `${prefix}{${saleId}}:`
  return {
    sale: `${base}sale`,
    users: `${base}users`,
    idem: `${base}idem`,
    orders: `${base}orders`,
    stream: `${base}stream`,
    expiry: `${base}expiry`,
    dead: `${base}dead`,
    final: `${base}final`,
    bell: `${base}bell`,
  }
}

/** set of every sale id (its own slot: never used in a script together with per-sale keys). */
export function salesIndexKey(prefix: string): string {
  return `${prefix}sales`
}

/** An order id carries its sale id before the last '.', so one lookup finds its keys. */
export function saleIdOfOrder(orderId: string): string | null {
  const dot = orderId.lastIndexOf('.')
  return dot > 0 ? orderId.slice(0, dot) : null
}

/** The pattern matching every sale's bell channel under `prefix` (glob characters escaped). */
export function bellPattern(prefix: string): string {
  return `${prefix.replace(/[*?[\]\\]/g, '\\$&')}{*}:bell`
}

/** The sale id a bell channel names, or null when it is not one under `prefix`. */
export function saleIdOfBell(prefix: string, channel: string): string | null {
  const head = `${prefix}{`
  const tail = '}:bell'
  if (!channel.startsWith(head) || !channel.endsWith(tail)) return null
  const id = channel.slice(head.length, channel.length - tail.length)
  return id === '' ? null : id
}

/**
 * The fleet dashboard's keys (cluster/dashboard-fleet.ts). Each is used alone, in single-key
 * commands, so they may live in any slot of a Redis Cluster.
 */
export function dashboardKeys(prefix: string) {
  return {
    /**
     * pub/sub channel (not a key): a node with a dashboard open publishes on it every second, and
     * every node that hears it writes its snapshot for a few seconds
     */
    watch: `${prefix}dashboard:watch`,
    /** sorted set: node name, scored by when it last wrote its snapshot (ms) */
    nodes: `${prefix}dashboard:nodes`,
    /** a node's latest snapshot (JSON), with a few seconds' TTL */
    node: (name: string) => `${prefix}dashboard:node:${name}`,
  }
}
