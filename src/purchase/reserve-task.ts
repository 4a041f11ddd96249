import { workerData } from 'piscina'
import { createRedis, type RedisTarget } from '../store/redis'
import { type ReserveBatch, type ReserveOutcome, reserveBatch } from './reserve-batch'

/**
 * The Piscina task file: one Redis client per thread, created at module top level, and one
 * coarse task per batch of attempts.
 */
interface TaskData {
  readonly redis: RedisTarget
  readonly redisTimeoutMs: number
  readonly prefix: string
}

const data = workerData as TaskData
const redis = createRedis(data.redis, `seckill-reserve-${process.pid}`, data.redisTimeoutMs)
const connected = redis.connect().then(
  () => true,
  () => false,
)

export async function reserve(batch: ReserveBatch): Promise<ReserveOutcome> {
  // Only the very first batches can find the connection still opening; later ones fail fast.
  await connected
  return reserveBatch(redis, data.prefix, batch)
}

/** Resolves once this thread's Redis connection is up; the worker waits on it before listening. */
export async function warm(): Promise<boolean> {
  return connected
}
