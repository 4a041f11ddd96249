import type { Redis } from 'ioredis'
import { addressOf, isCluster, mastersOf, type RedisClient } from './redis-client'

/**
 * How much of what Redis acknowledged survives a crash of Redis. Redis holds every order until
 * the writer has copied it to PostgreSQL, so this is part of I4:
 *
 * - no AOF: a Redis restart loses every sale and every order not yet in PostgreSQL;
 * - AOF, appendfsync everysec: a killed Redis loses nothing (the kernel has the writes), a power
 *   loss up to about one second of acknowledged writes;
 * - AOF, appendfsync always: a power loss loses nothing acknowledged, at a cost per write;
 * - replicas are asynchronous: a failover can lose acknowledged writes whatever the fsync.
 *
 * On a Redis Cluster each master holds its own shard of the sales, so each must keep the promise:
 * the cluster is as durable as its least durable master, and that one is what is reported.
 */
export interface Durability {
  readonly aof: boolean
  /** appendfsync: always, everysec or no */
  readonly fsync: string
  /** master or slave (INFO replication) */
  readonly role: string
  readonly replicas: number
  /** on a cluster, the master described (the least durable one) as host:port; '' otherwise */
  readonly node: string
  /** how many masters were read: 1 for a single Redis */
  readonly masters: number
}

/** What the operator requires (REDIS_DURABILITY). */
export type DurabilityRequirement = 'any' | 'aof' | 'aof-always'

/** The durability of the one Redis, or of the least durable master of the cluster. */
export async function readDurability(client: RedisClient): Promise<Durability> {
  const masters = mastersOf(client)
  const each = await Promise.all(masters.map(readNode))
  let weakest = 0
  each.forEach((d, i) => {
    if (strength(d) < strength(each[weakest]!)) weakest = i
  })
  return {
    ...each[weakest]!,
    node: isCluster(client) ? addressOf(masters[weakest]!) : '',
    masters: masters.length,
  }
}

async function readNode(node: Redis): Promise<Omit<Durability, 'node' | 'masters'>> {
  const [aof, fsync, info] = await Promise.all([
    node.config('GET', 'appendonly') as Promise<string[]>,
    node.config('GET', 'appendfsync') as Promise<string[]>,
    node.info('replication'),
  ])
  const field = (name: string) => new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1] ?? ''
  return {
    aof: aof[1] === 'yes',
    fsync: fsync[1] ?? '',
    role: field('role'),
    replicas: Number(field('connected_slaves')) || 0,
  }
}

/** Orders what a crash can lose: no AOF < appendfsync no < everysec < always; then replicas. */
function strength(d: Pick<Durability, 'aof' | 'fsync' | 'replicas'>): number {
  const fsync = d.fsync === 'always' ? 3 : d.fsync === 'everysec' ? 2 : 1
  return (d.aof ? fsync : 0) * 1000 + Math.min(d.replicas, 999)
}

/** One short phrase for logs and /readyz. */
export function describeDurability(d: Durability): string {
  const base = d.aof
    ? `aof, appendfsync ${d.fsync}`
    : 'no aof: a Redis restart loses sales and orders not yet in PostgreSQL'
  const replicas = d.replicas > 0 ? `${base}; ${d.replicas} asynchronous replica(s)` : base
  return d.node
    ? `${replicas} (least durable of ${d.masters} cluster masters: ${d.node})`
    : replicas
}

/** Null when `d` meets the requirement; else why not, with the fix. */
export function durabilityShortfall(d: Durability, required: DurabilityRequirement): string | null {
  if (required === 'any') return null
  if (!d.aof || d.fsync === 'no') {
    return (
      `REDIS_DURABILITY=${required} but Redis${where(d)} runs with appendonly ${d.aof ? 'yes' : 'no'}, ` +
      `appendfsync ${d.fsync}: a Redis restart would lose orders not yet in PostgreSQL. Run: ` +
      `redis-cli CONFIG SET appendonly yes; redis-cli CONFIG SET appendfsync ` +
      `${required === 'aof-always' ? 'always' : 'everysec'} (and put both in redis.conf` +
      `${d.node ? ', on every master' : ''})`
    )
  }
  if (required === 'aof-always' && d.fsync !== 'always') {
    return (
      `REDIS_DURABILITY=aof-always but Redis${where(d)} runs with appendfsync ${d.fsync}: a ` +
      'power loss would lose up to a second of orders. Run: redis-cli CONFIG SET appendfsync ' +
      `always${d.node ? ' (on every master)' : ''}`
    )
  }
  return null
}

function where(d: Durability): string {
  return d.node ? ` (cluster master ${d.node})` : ''
}
