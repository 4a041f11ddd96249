import Redis from 'ioredis'
import { defineScripts, preloadScripts, type ScriptedRedis } from './scripts'

/**
 * Redis clients. Purchases never wait in an offline queue behind a dead connection: a command
 * issued while disconnected fails at once, and the caller answers 503 with nothing reserved.
 */
export function createRedis(url: string, name: string, timeoutMs: number): ScriptedRedis {
  const client = new Redis(url, {
    connectionName: name,
    enableOfflineQueue: false,
    // A hung Redis (stopped, swapping, a partition with no RST) must not leave callers waiting
    // without bound: every command fails after REDIS_TIMEOUT_MS. The command stays in ioredis's
    // queue, so a late reply is still matched to it and dropped, never to a later command.
    commandTimeout: timeoutMs,
    // ioredis re-sends unanswered commands after a reconnect; reserve-6.lua is idempotent by
    // orderId for exactly this reason.
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 50, 1000),
    lazyConnect: true,
  })
  // ioredis emits 'error' on every failed reconnect; callers see the failure on their commands.
  client.on('error', () => {})
  return defineScripts(client)
}

/** Connect, check the eviction policy, and load the scripts; throws with what to do. */
export async function connectRedis(
  url: string,
  name: string,
  timeoutMs: number,
): Promise<ScriptedRedis> {
  const client = createRedis(url, name, timeoutMs)
  try {
    await client.connect()
  } catch (err) {
    client.disconnect()
    throw new Error(
      `Redis is not reachable at ${redactUrl(url)} (${(err as Error).message}). ` +
        `${startHint(url)} or set REDIS_URL.`,
    )
  }
  return client
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

/** Refuse to run on a Redis that may evict keys: an evicted stock counter is an oversell. */
export async function checkRedisPolicy(client: Redis): Promise<void> {
  const reply = (await client.config('GET', 'maxmemory-policy')) as string[]
  const policy = reply[1]
  if (policy !== 'noeviction') {
    throw new Error(
      `Redis maxmemory-policy is "${policy}"; seckill needs "noeviction" (an evicted stock key ` +
        'would oversell). Run: redis-cli CONFIG SET maxmemory-policy noeviction',
    )
  }
  await preloadScripts(client)
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@')
}
