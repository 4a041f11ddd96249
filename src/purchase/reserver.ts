import { join } from 'node:path'
import Piscina from 'piscina'
import { connectRedis, type RedisTarget, redactUrl } from '../store/redis'
import { type ReserveBatch, type ReserveOutcome, reserveBatch } from './reserve-batch'

/**
 * Where batched reserve-6.lua calls run: inline on the worker's own thread (the default: on the
 * 2-core machine measured in the README the thread hop cost more than it saved), or on a Piscina
 * worker thread (the design's first choice; keeps reply parsing off the HTTP event loop, which
 * may pay on machines with cores to spare).
 */
export interface Reserver {
  run(batch: ReserveBatch): Promise<ReserveOutcome>
  close(): Promise<void>
}

export interface ReserverOptions {
  readonly mode: 'piscina' | 'inline'
  readonly threads: number
  /** REDIS_URL and REDIS_CLUSTER: every thread makes its own client from them */
  readonly redis: RedisTarget
  /** ioredis's own bound; the batcher answers buyers far sooner (PURCHASE_TIMEOUT_MS) */
  readonly redisTimeoutMs: number
  readonly prefix: string
}

export async function createReserver(o: ReserverOptions): Promise<Reserver> {
  if (o.mode === 'inline') {
    const redis = await connectRedis(o.redis, `seckill-reserve-${process.pid}`, o.redisTimeoutMs)
    return {
      run: (batch) => reserveBatch(redis, o.prefix, batch),
      close: async () => {
        redis.disconnect()
      },
    }
  }
  const pool = new Piscina({
    filename: join(__dirname, 'reserve-task.js'),
    minThreads: o.threads,
    maxThreads: o.threads,
    // Threads live as long as the process: each holds a Redis connection worth keeping.
    idleTimeout: Number.POSITIVE_INFINITY,
    // Not 'sync' (the default): a thread frozen in Atomics.wait between tasks never runs
    // ioredis's reconnect timer (see src/orders/writer/writer-loop.ts).
    atomics: 'async',
    workerData: { redis: o.redis, redisTimeoutMs: o.redisTimeoutMs, prefix: o.prefix },
  })
  // Every thread must have its Redis connection before the worker takes traffic.
  const warm = await Promise.all(
    Array.from({ length: o.threads }, () => pool.run(null, { name: 'warm' }) as Promise<boolean>),
  )
  if (warm.some((ok) => !ok)) {
    await pool.destroy()
    throw new Error(`a reserve thread cannot reach Redis at ${redactUrl(o.redis.REDIS_URL)}`)
  }
  return {
    run: (batch) => pool.run(batch, { name: 'reserve' }) as Promise<ReserveOutcome>,
    close: () => pool.destroy(),
  }
}
