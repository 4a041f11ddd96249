/**
 * After a Redis command failed, could it have run? The answer decides what a client is told:
 * "nothing happened" (503 unavailable) only when that is certain, else "outcome unknown".
 */

/**
 * ioredis's words for a command refused before it was written: no connection ready, or (Redis
 * Cluster) the cluster not ready, which has no offline queue either.
 */
const NOT_WRITTEN = /^(Stream isn't writeable|Cluster isn't ready)/

/** Redis errors that refuse a command before it runs (the last three: Redis Cluster's). */
const REFUSED_BEFORE_RUN =
  /^(LOADING|OOM|MASTERDOWN|READONLY|NOPERM|NOAUTH|BUSY|NOSCRIPT|CLUSTERDOWN|TRYAGAIN|CROSSSLOT) /

/**
 * False only when the command certainly did not run: never written, or refused by Redis before
 * running. Any other failure (a connection lost after the write, a timeout, an unexpected script
 * error) may have left it applied.
 */
export function mayHaveRun(err: unknown): boolean {
  const e = err as Error
  const message = e?.message ?? String(err)
  if (NOT_WRITTEN.test(message)) return false
  return !(e?.name === 'ReplyError' && REFUSED_BEFORE_RUN.test(message))
}
