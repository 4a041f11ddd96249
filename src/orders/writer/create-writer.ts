import type { Config } from '../../config'
import { pgOptionsOf } from '../../db/pg'
import { redisTargetOf } from '../../store/redis'
import { WriterLoop, type WriterMetrics } from './writer-loop'

/**
 * This node's order writer, configured from the node's config, its threads started. It writes a
 * sale's orders from the moment it is told about the sale (`track`) until `stop()`; a sale's
 * stream is read when the sale's bell rings (`ring`, from the node's SaleBell).
 */
export function createOrderWriter(
  config: Config,
  metrics: WriterMetrics,
  /** Redis clock now, for the lag gauge */
  now: () => number,
): WriterLoop {
  return new WriterLoop(
    {
      threads: config.WRITER_THREADS,
      consumer: config.WRITER_NAME,
      idleMs: config.WRITER_IDLE_MS,
      claimIdleMs: config.WRITER_CLAIM_IDLE_MS,
      now,
      task: {
        redis: redisTargetOf(config),
        redisTimeoutMs: config.REDIS_TIMEOUT_MS,
        // Each thread opens its own pool of PG_POOL_MAX connections.
        pg: pgOptionsOf(config, 'seckill-writer', config.PG_POOL_MAX),
        writer: {
          prefix: config.REDIS_PREFIX,
          batch: config.WRITER_BATCH,
          claimIdleMs: config.WRITER_CLAIM_IDLE_MS,
          maxDeliveries: config.WRITER_MAX_DELIVERIES,
          crashAt: config.SECKILL_CRASH_AT ?? null,
          crashAfterReads: config.SECKILL_CRASH_AFTER,
        },
      },
    },
    metrics,
  )
}
