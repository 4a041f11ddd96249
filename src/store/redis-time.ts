import type { RedisClient } from './redis-client'

/**
 * Redis TIME, the one clock every deadline comes from (DESIGN.md): its reply in epoch ms, and
 * how far Redis's clock is from this host's.
 *
 * On a Redis Cluster TIME is answered by one node (any), while each script reads the TIME of its
 * own shard: the deadlines a sale's orders get, and when it opens and closes, come from the
 * master that holds the sale, which is what makes them consistent. The offset measured here only
 * feeds the workers' gate (a filter that may refuse early or forward late, never sell) and the
 * sweep's guess of when to look, so one node's clock is good enough for it.
 */

/** A TIME reply [seconds, microseconds] in epoch milliseconds. */
export function timeToMs(reply: readonly (string | number)[]): number {
  return Number(reply[0]) * 1000 + Math.floor(Number(reply[1]) / 1000)
}

export async function redisNowMs(client: RedisClient): Promise<number> {
  return timeToMs(await client.time())
}

/** Redis's clock minus this host's, in ms, taken at the middle of the round trip. */
export async function redisOffsetMs(client: RedisClient): Promise<number> {
  const before = Date.now()
  const reply = await client.time()
  const after = Date.now()
  return timeToMs(reply) - Math.round((before + after) / 2)
}
