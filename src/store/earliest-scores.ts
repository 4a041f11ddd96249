import type Redis from 'ioredis'

/**
 * The lowest score of one sorted set per sale (null when it is empty), all in one pipeline. A
 * failed reply throws: the caller's pass fails and its next tick asks again.
 */
export async function earliestScores(
  redis: Redis,
  saleIds: readonly string[],
  keyOf: (saleId: string) => string,
): Promise<Map<string, number | null>> {
  const out = new Map<string, number | null>()
  if (saleIds.length === 0) return out
  const p = redis.pipeline()
  for (const id of saleIds) p.zrange(keyOf(id), 0, 0, 'WITHSCORES')
  const replies = (await p.exec()) ?? []
  saleIds.forEach((id, i) => {
    const [err, first] = replies[i] ?? [new Error('no reply'), null]
    if (err) throw err
    const score = (first as string[])[1]
    out.set(id, score === undefined ? null : Number(score))
  })
  return out
}
