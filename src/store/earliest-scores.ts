import type { RedisClient } from './redis-client'

/**
 * The lowest score of one sorted set per sale (null when it is empty), all in one round trip: the
 * commands are all written before any reply is awaited. Not a pipeline object, which on a Redis
 * Cluster must keep to one slot: each command here goes to its own sale's node. A failed reply
 * throws: the caller's pass fails and its next tick asks again.
 */
export async function earliestScores(
  redis: RedisClient,
  saleIds: readonly string[],
  keyOf: (saleId: string) => string,
): Promise<Map<string, number | null>> {
  const firsts = await Promise.all(saleIds.map((id) => redis.zrange(keyOf(id), 0, 0, 'WITHSCORES')))
  const out = new Map<string, number | null>()
  saleIds.forEach((id, i) => {
    const score = firsts[i]?.[1]
    out.set(id, score === undefined ? null : Number(score))
  })
  return out
}
