import { Cluster, Redis } from 'ioredis'
import {
  clusterReady,
  freshPrefix,
  harnessRedis,
  keysUnder,
  REDIS_URL,
} from '../../bench/harness/store-fixture'
import type { Teardown } from '../../bench/harness/teardown'
import { type SaleKeys, saleKeys } from '../../src/store/keys'
import type { RedisClient } from '../../src/store/redis-client'
import { defineScripts } from '../../src/store/scripts'
import { keySlot } from './key-slot'

/**
 * Integration-test access to the real Redis. The server is shared with other processes, so a test
 * never flushes it: every test writes under its own random prefix and deletes exactly those keys
 * (the harness's store fixture, bench/harness/, shared with the benchmarks). With REDIS_CLUSTER=on
 * REDIS_URL names a Redis Cluster, and every client here is a cluster's.
 */
export {
  deleteUnder,
  freshPrefix,
  keysUnder,
  REDIS_URL,
  redisTarget,
} from '../../bench/harness/store-fixture'
export type { Teardown }

/**
 * The scripts' commands with loose argument types: contract tests send what the production
 * wrappers never would (bad actions, malformed ARGV), to see the script refuse it.
 */
export interface LooseScripts {
  createSale(sale: string, ...argv: (string | number)[]): Promise<[number, string?]>
  setSaleState(sale: string, ...argv: string[]): Promise<number>
  adjustStock(sale: string, ...argv: string[]): Promise<number[] | [number, string]>
  reserve(...keysAndArgv: (string | number)[]): Promise<ReserveRawReply[]>
  settleOrder(...keysAndArgv: (string | number)[]): Promise<(string | number)[]>
  expireOrders(...keysAndArgv: (string | number)[]): Promise<number[]>
  recountSale(...keysAndArgv: (string | number)[]): Promise<number[]>
  restoreSale(...keysAndArgv: (string | number)[]): Promise<(string | number)[]>
  pruneOrders(...keysAndArgv: (string | number)[]): Promise<number[]>
}

/** One attempt's reply from reserve-6.lua as it comes off the wire. */
export type ReserveRawReply = [number, number, string?, number?, number?, number?]

export type TestRedis = RedisClient & LooseScripts

/** One client per test file, with the scripts of native-lua/ defined; closed at teardown. */
export function openRedis(t: Teardown): TestRedis {
  // Commands queue only until the first connect; no retries, so a Redis that is down or drops
  // the connection fails the test at once instead of re-sending (and hiding) a command.
  const client = harnessRedis(REDIS_URL, { maxRetriesPerRequest: 0 })
  t.teardown(() => client.quit())
  return defineScripts(client) as unknown as TestRedis
}

/** A prefix and the keys of sale `s1` under it. */
export function freshSale(
  t: Teardown,
  redis: RedisClient,
  saleId = 's1',
): SaleKeys & { prefix: string } {
  const prefix = freshPrefix(t, redis)
  return { prefix, ...saleKeys(prefix, saleId) }
}

/** Redis TIME in epoch ms: the clock the scripts read. */
export { redisNowMs } from '../../src/store/redis-time'

/** The sale hash fields written by createSale-1.lua, all as Redis stores them (strings). */
export interface SaleHash {
  name: string
  stock: string
  sold: string
  perUserLimit: string
  startsAt: string
  endsAt: string
  ttl: string
  started: string
  closed: string
  createdAt: string
}

/** A started, open sale of 10 units, 2 per user, 300 s to pay. Rows override what they test. */
export const DEFAULT_SALE: Readonly<SaleHash> = Object.freeze({
  name: 'Phone',
  stock: '10',
  sold: '0',
  perUserLimit: '2',
  startsAt: '',
  endsAt: '',
  ttl: '300',
  started: '1',
  closed: '0',
  createdAt: '1700000000000',
})

/** HSET the sale hash directly (not through createSale-1.lua: the state before is the input). */
export async function seedSale(
  redis: RedisClient,
  key: string,
  fields: Partial<SaleHash>,
): Promise<SaleHash> {
  const hash = { ...DEFAULT_SALE, ...fields }
  await redis.hset(key, hash)
  return hash
}

/** Every piece of state a script may touch for one sale, as plain values. */
export interface SaleSnapshot {
  sale: Record<string, string>
  users: Record<string, string>
  idem: Record<string, string>
  orders: Record<string, string>
  /** the expiry zset: orderId -> expiresAt */
  expiry: Record<string, string>
  streamLength: number
  /** The id of the newest stream entry, '' for none: proves no entry came and went. */
  streamLastId: string
  /** Every key under the test's prefix: proves nothing was written elsewhere. */
  keys: string[]
}

export async function snapshot(
  redis: RedisClient,
  k: SaleKeys & { prefix: string },
): Promise<SaleSnapshot> {
  const [sale, users, idem, orders, zset, streamLength, last, keys] = await Promise.all([
    redis.hgetall(k.sale),
    redis.hgetall(k.users),
    redis.hgetall(k.idem),
    redis.hgetall(k.orders),
    redis.zrange(k.expiry, 0, -1, 'WITHSCORES'),
    redis.xlen(k.stream),
    redis.xrevrange(k.stream, '+', '-', 'COUNT', 1),
    keysUnder(redis, k.prefix),
  ])
  const expiry: Record<string, string> = {}
  for (let i = 0; i < zset.length; i += 2) expiry[zset[i]!] = zset[i + 1]!
  return { sale, users, idem, orders, expiry, streamLength, streamLastId: last[0]?.[0] ?? '', keys }
}

/** What a script published on a sale's bell channel, for the scripts' contract tests. */
export interface BellRecorder {
  /** the messages received since the last call (every message published before it is in) */
  take(): Promise<string[]>
}

/**
 * Subscribe to `channel` on a connection of its own; `take` first PINGs that connection, so
 * every message Redis queued for it before the PING (a script's PUBLISH that has returned) has
 * arrived. On a cluster the connection is to the master of the channel's slot, the sale's: the
 * script publishes there, and another node would get the message later, over the cluster bus.
 */
export async function recordBell(t: Teardown, channel: string): Promise<BellRecorder> {
  const sub = await subscriberFor(channel)
  t.teardown(() => sub.quit())
  const got: string[] = []
  sub.on('message', (ch: string, message: string) => {
    if (ch === channel) got.push(message)
  })
  await sub.subscribe(channel)
  return {
    async take() {
      await sub.ping()
      return got.splice(0)
    },
  }
}

async function subscriberFor(channel: string): Promise<Redis> {
  const probe = harnessRedis(REDIS_URL, { maxRetriesPerRequest: 0 })
  if (!(probe instanceof Cluster)) return probe
  try {
    await clusterReady(probe)
    const owner = probe.slots[keySlot(channel)]?.[0]
    if (owner === undefined) throw new Error(`no master holds the slot of ${channel}`)
    const at = owner.lastIndexOf(':')
    return new Redis({
      host: owner.slice(0, at),
      port: Number(owner.slice(at + 1)),
      maxRetriesPerRequest: 0,
    })
  } finally {
    probe.disconnect()
  }
}
