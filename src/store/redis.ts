import { Cluster, Redis, type RedisOptions } from 'ioredis'
import type { Config } from '../config'
import { addressOf, isCluster, mastersOf, type RedisClient } from './redis-client'
import { defineScripts, preloadScripts, type ScriptedRedis } from './scripts'

/** Where the stock store is: one Redis, or the seed nodes of a Redis Cluster (README, config). */
export type RedisTarget = Readonly<Pick<Config, 'REDIS_URL' | 'REDIS_CLUSTER'>>

/** Just the two variables, for a thread's workerData (not the whole configuration). */
export function redisTargetOf(c: RedisTarget): RedisTarget {
  return { REDIS_URL: c.REDIS_URL, REDIS_CLUSTER: c.REDIS_CLUSTER }
}

/** Reconnect soon, then at most every second: a restarted Redis is back within it. */
const retry = (times: number) => Math.min(times * 50, 1000)

/**
 * Redis clients, the one factory of every process and thread. Purchases never wait in an offline
 * queue behind a dead connection: a command issued while disconnected fails at once, and the
 * caller answers 503 with nothing reserved. On a Redis Cluster the same options go to every
 * node's connection; the cluster as a whole has no offline queue either.
 */
export function createRedis(target: RedisTarget, name: string, timeoutMs: number): ScriptedRedis {
  const options: RedisOptions = {
    connectionName: name,
    enableOfflineQueue: false,
    // A hung Redis (stopped, swapping, a partition with no RST) must not leave callers waiting
    // without bound: every command fails after REDIS_TIMEOUT_MS. The command stays in ioredis's
    // queue, so a late reply is still matched to it and dropped, never to a later command.
    commandTimeout: timeoutMs,
    // ioredis re-sends unanswered commands after a reconnect; reserve-6.lua is idempotent by
    // orderId for exactly this reason.
    maxRetriesPerRequest: 1,
    retryStrategy: retry,
    lazyConnect: true,
  }
  const client: RedisClient =
    target.REDIS_CLUSTER === 'on'
      ? new Cluster(clusterSeeds(target.REDIS_URL), {
          lazyConnect: true,
          enableOfflineQueue: false,
          clusterRetryStrategy: retry,
          // ioredis keeps a queue and no reconnection of its own on each node's connection (a
          // lost node is found again through the slot map); the rest applies as above.
          redisOptions: { ...options, ...credentials(firstSeed(target.REDIS_URL)) },
        })
      : new Redis(target.REDIS_URL, options)
  // ioredis emits 'error' on every failed reconnect; callers see the failure on their commands.
  client.on('error', () => {})
  return defineScripts(client)
}

/** Connect, and define the scripts; throws with what to do. */
export async function connectRedis(
  target: RedisTarget,
  name: string,
  timeoutMs: number,
): Promise<ScriptedRedis> {
  const client = createRedis(target, name, timeoutMs)
  try {
    await client.connect()
  } catch (err) {
    client.disconnect()
    const url = redactUrl(target.REDIS_URL)
    throw new Error(
      target.REDIS_CLUSTER === 'on'
        ? `Redis Cluster is not reachable at ${url} (${(err as Error).message}). Start it, or ` +
            'set REDIS_URL to one or more of its nodes (REDIS_CLUSTER=on).'
        : `Redis is not reachable at ${url} (${(err as Error).message}). ` +
            `${startHint(target.REDIS_URL)} or set REDIS_URL.`,
    )
  }
  return client
}

/** The seed nodes of REDIS_URL (comma-separated; config.ts has checked each is a redis:// URL). */
export function clusterSeeds(urls: string): { host: string; port: number }[] {
  return urls.split(',').map((u) => {
    const url = new URL(u.trim())
    return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port || 6379) }
  })
}

function firstSeed(urls: string): URL {
  return new URL(urls.split(',')[0]!.trim())
}

/** What a cluster's nodes share: the user and password of the seed URL, and TLS for rediss://. */
export function credentials(url: URL): Pick<RedisOptions, 'username' | 'password' | 'tls'> {
  return {
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
  }
}

/** How to start the Redis the URL names: its host and port, not the default's. */
function startHint(url: string): string {
  let host: string
  let port: string
  try {
    const u = new URL(url)
    host = u.hostname || '127.0.0.1'
    port = u.port || '6379'
  } catch {
    return 'Start it'
  }
  return `Start Redis on ${host}:${port} (redis-server --port ${port})`
}

/**
 * The checks before a node (or a restore) writes: Redis is what REDIS_CLUSTER says it is, never
 * evicts, and loads every script. On a cluster each holds on every master: an eviction on one
 * shard oversells that shard's sales.
 */
export async function checkRedisPolicy(client: RedisClient): Promise<void> {
  if (!isCluster(client)) await refuseClusterNode(client)
  const masters = mastersOf(client)
  for (const node of masters) {
    const reply = (await node.config('GET', 'maxmemory-policy')) as string[]
    const policy = reply[1]
    if (policy !== 'noeviction') {
      const where = isCluster(client) ? ` on cluster master ${addressOf(node)}` : ''
      const cli = isCluster(client)
        ? `redis-cli -h ${node.options.host} -p ${node.options.port}`
        : 'redis-cli'
      throw new Error(
        `Redis maxmemory-policy is "${policy}"${where}; seckill needs "noeviction" (an evicted ` +
          `stock key would oversell). Run: ${cli} CONFIG SET maxmemory-policy noeviction`,
      )
    }
  }
  for (const node of masters) await preloadScripts(node)
}

/**
 * A node of a Redis Cluster reached as a single Redis would answer MOVED for most sales' keys:
 * say what to set instead. A Redis whose INFO is disabled is taken at its word.
 */
async function refuseClusterNode(client: Redis): Promise<void> {
  const info = await client.info('cluster').catch(() => '')
  if (/^cluster_enabled:1/m.test(info)) {
    throw new Error(
      'REDIS_URL names a node of a Redis Cluster (cluster_enabled:1): set REDIS_CLUSTER=on',
    )
  }
}

/** The URL(s) with their passwords hidden, for logs and messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/,]*@/g, '//***@')
}
