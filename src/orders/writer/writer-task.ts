import { workerData } from 'piscina'
import { createPool, type PgOptions } from '../../db/pg'
import { createRedis, type RedisTarget } from '../../store/redis'
import type { WriteJob, WriteResult, WriterOptions } from './write-job'
import { OrderWriter } from './write-step'

/**
 * The Piscina task file of the order writer: one Redis client and one PostgreSQL pool per
 * thread, created at module top level; one coarse task per batch of stream entries.
 */
export interface WriterTaskData {
  readonly redis: RedisTarget
  readonly redisTimeoutMs: number
  readonly pg: PgOptions
  readonly writer: WriterOptions
}

const data = workerData as WriterTaskData
const redis = createRedis(data.redis, `seckill-writer-${process.pid}`, data.redisTimeoutMs)
const connected = redis.connect().catch(() => {})
const writer = OrderWriter.open(redis, createPool(data.pg), data.writer)

export async function write(job: WriteJob): Promise<WriteResult> {
  await connected
  return writer.step(job)
}

/** The sales, of `saleIds`, whose stream holds entries: one round trip for every sale. */
export async function backlogged(saleIds: readonly string[]): Promise<string[]> {
  await connected
  return writer.backlogged(saleIds)
}
