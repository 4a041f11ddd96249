import type Redis from 'ioredis'

/**
 * Redis TIME, the one clock every deadline comes from (DESIGN.md): its reply in epoch ms, and
 * how far Redis's clock is from this host's.
 */

/** A TIME reply [seconds, microseconds] in epoch milliseconds. */
export function timeToMs(reply: readonly (string | number)[]): number {
  return Number(reply[0]) * 1000 + Math.floor(Number(reply[1]) / 1000)
}

export async function redisNowMs(client: Redis): Promise<number> {
  return timeToMs(await client.time())
}

/** Redis's clock minus this host's, in ms, taken at the middle of the round trip. */
export async function redisOffsetMs(client: Redis): Promise<number> {
  const before = Date.now()
  const reply = await client.time()
  const after = Date.now()
  return timeToMs(reply) - Math.round((before + after) / 2)
}
