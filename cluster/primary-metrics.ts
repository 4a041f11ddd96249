import { Counter, Gauge, Histogram, Registry } from 'prom-client'

/**
 * The primary's own metrics (order writer, expiry sweep, reconciler), in a registry of its own:
 * GET /metrics appends them to the workers' aggregate. Kept apart from src/metrics.ts so the
 * primary never registers the workers' metrics a second time.
 */
export const primaryRegistry = new Registry()
const registers = [primaryRegistry]

function counter(name: string, help: string): Counter {
  return new Counter({ name, help, registers })
}

function gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []) {
  return new Gauge<L>({ name, help, labelNames, registers })
}

export const ordersWritten = counter(
  'seckill_orders_written_total',
  'order rows inserted into PostgreSQL or moved to a final state by the order writer',
)

export const writerBatch = new Histogram({
  name: 'seckill_writer_batch_size',
  help: 'stream entries read per order-writer step (steps that read nothing are not counted)',
  buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000],
  registers,
})

export const writerFailures = counter(
  'seckill_writer_failures_total',
  'order-writer steps that failed as a whole (PostgreSQL or Redis unreachable); retried',
)

export const deadLetters = counter(
  'seckill_dead_letters_total',
  'order stream entries moved to a dead-letter stream',
)

export const writerBacklog = gauge(
  'seckill_writer_backlog_entries',
  'order stream entries not yet in PostgreSQL, per sale',
  ['sale'],
)

export const writerLag = gauge(
  'seckill_writer_lag_seconds',
  'age of the oldest order stream entry not yet in PostgreSQL (0 when none), per sale',
  ['sale'],
)

export const ordersExpired = counter(
  'seckill_orders_expired_total',
  'reserved orders expired by the sweep (their units went back on sale)',
)

export const unitsReturned = counter(
  'seckill_units_returned_total',
  'units returned to stock by the expiry sweep',
)

export const drift = gauge(
  'seckill_drift',
  'differences between Redis and PostgreSQL found by the last reconciliation, per kind',
  ['sale', 'kind'],
)

export const redisAof = gauge(
  'seckill_redis_aof',
  '1 when Redis appends to its AOF (appendonly yes), 0 when it does not: then a Redis restart loses orders not yet in PostgreSQL',
)

export const redisFsyncAlways = gauge(
  'seckill_redis_fsync_always',
  '1 when Redis fsyncs its AOF on every write (appendfsync always)',
)

export const ordersPruned = counter(
  'seckill_orders_pruned_total',
  'cancelled and expired orders forgotten in Redis after ORDER_RETENTION_S (PostgreSQL keeps them)',
)

export const workersReplaced = new Counter({
  name: 'seckill_workers_replaced_total',
  help: 'workers replaced on purpose, by reason: reload (seckill reload) or rss (over MAX_WORKER_RSS_MB)',
  labelNames: ['reason'] as const,
  registers,
})
