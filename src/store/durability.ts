import type Redis from 'ioredis'

/**
 * How much of what Redis acknowledged survives a crash of Redis. Redis holds every order until
 * the writer has copied it to PostgreSQL, so this is part of I4:
 *
 * - no AOF: a Redis restart loses every sale and every order not yet in PostgreSQL;
 * - AOF, appendfsync everysec: a killed Redis loses nothing (the kernel has the writes), a power
 *   loss up to about one second of acknowledged writes;
 * - AOF, appendfsync always: a power loss loses nothing acknowledged, at a cost per write;
 * - replicas are asynchronous: a failover can lose acknowledged writes whatever the fsync.
 */
export interface Durability {
  readonly aof: boolean
  /** appendfsync: always, everysec or no */
  readonly fsync: string
  /** master or slave (INFO replication) */
  readonly role: string
  readonly replicas: number
}

/** What the operator requires (REDIS_DURABILITY). */
export type DurabilityRequirement = 'any' | 'aof' | 'aof-always'

export async function readDurability(client: Redis): Promise<Durability> {
  const [aof, fsync, info] = await Promise.all([
    client.config('GET', 'appendonly') as Promise<string[]>,
    client.config('GET', 'appendfsync') as Promise<string[]>,
    client.info('replication'),
  ])
  const field = (name: string) => new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1] ?? ''
  return {
    aof: aof[1] === 'yes',
    fsync: fsync[1] ?? '',
    role: field('role'),
    replicas: Number(field('connected_slaves')) || 0,
  }
}

/** One short phrase for logs and /readyz. */
export function describeDurability(d: Durability): string {
  const base = d.aof
    ? `aof, appendfsync ${d.fsync}`
    : 'no aof: a Redis restart loses sales and orders not yet in PostgreSQL'
  return d.replicas > 0 ? `${base}; ${d.replicas} asynchronous replica(s)` : base
}

/** Null when `d` meets the requirement; else why not, with the fix. */
export function durabilityShortfall(d: Durability, required: DurabilityRequirement): string | null {
  if (required === 'any') return null
  if (!d.aof || d.fsync === 'no') {
    return (
      `REDIS_DURABILITY=${required} but Redis runs with appendonly ${d.aof ? 'yes' : 'no'}, ` +
      `appendfsync ${d.fsync}: a Redis restart would lose orders not yet in PostgreSQL. Run: ` +
      `redis-cli CONFIG SET appendonly yes; redis-cli CONFIG SET appendfsync ` +
      `${required === 'aof-always' ? 'always' : 'everysec'} (and put both in redis.conf)`
    )
  }
  if (required === 'aof-always' && d.fsync !== 'always') {
    return (
      `REDIS_DURABILITY=aof-always but Redis runs with appendfsync ${d.fsync}: a power loss ` +
      'would lose up to a second of orders. Run: redis-cli CONFIG SET appendfsync always'
    )
  }
  return null
}
