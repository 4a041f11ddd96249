import { Cluster, type Redis } from 'ioredis'

/**
 * A client on one Redis or on a Redis Cluster (REDIS_CLUSTER=on). Both offer the same commands,
 * MULTI and defineCommand; on a cluster a command goes to the master of its keys' slot, so a
 * command, MULTI or script must keep to one slot: every key of a sale carries its `{saleId}` tag
 * (keys.ts), and a command that names several sales is sent once per sale.
 */
export type RedisClient = Redis | Cluster

export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster
}

/**
 * Each server whose settings bind the whole data set: the one Redis, or every master of the
 * cluster (a check of eviction, durability or scripts holds only if it holds on each shard).
 * Only masters: a replica answers for no slot, and a failover makes it a master that the next
 * start checks.
 */
export function mastersOf(client: RedisClient): Redis[] {
  return isCluster(client) ? client.nodes('master') : [client]
}

/** "host:port" of one server, for messages that must say which shard is at fault. */
export function addressOf(node: Redis): string {
  return `${node.options.host ?? '127.0.0.1'}:${node.options.port ?? 6379}`
}
