import type { RedisClient } from '../../src/store/redis-client'

export { type OwnRedis, ownRedis } from '../../bench/harness/own-redis'

/** INFO commandstats of one server (a test's own) as {command: calls}. */
export async function commandCalls(client: RedisClient): Promise<Record<string, number>> {
  const info = await client.info('commandstats')
  const calls: Record<string, number> = {}
  for (const line of info.split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line)
    if (m) calls[m[1]!] = Number(m[2])
  }
  return calls
}
