import { Counter, Gauge, Histogram, Registry } from 'prom-client'

/**
 * The primary's own metrics (order writer, expiry sweep, reconciler), in a registry of its own:
 * GET /metrics appends them to the workers' aggregate. Kept apart from src/metrics.ts so the
 * primary never registers the workers' metrics a second time.
 */
export const primaryRegistry = new Registry()
const registers = [primaryRegistry]

export const ordersWritten = new Counter({
  name: 'seckill_orders_written_total',
  help: 'order rows inserted into PostgreSQL or moved to a final state by the order writer',
  registers,
})

export const writerBatch = new Histogram({
  name: 'seckill_writer_batch_size',
  help: 'stream entries read per order-writer step (steps that read nothing are not counted)',
  buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000],
  registers,
})

export const writerFailures = new Counter({
  name: 'seckill_writer_failures_total',
  help: 'order-writer steps that failed as a whole (PostgreSQL or Redis unreachable); retried',
  registers,
})

export const deadLetters = new Counter({
  name: 'seckill_dead_letters_total',
  help: 'order stream entries moved to a dead-letter stream',
  registers,
})

export const writerBacklog = new Gauge({
  name: 'seckill_writer_backlog_entries',
  help: 'order stream entries not yet in PostgreSQL, per sale',
  labelNames: ['sale'] as const,
  registers,
})

export const writerLag = new Gauge({
  name: 'seckill_writer_lag_seconds',
  help: 'age of the oldest order stream entry not yet in PostgreSQL (0 when none), per sale',
  labelNames: ['sale'] as const,
  registers,
})

export const ordersExpired = new Counter({
  name: 'seckill_orders_expired_total',
  help: 'reserved orders expired by the sweep (their units went back on sale)',
  registers,
})

export const unitsReturned = new Counter({
  name: 'seckill_units_returned_total',
  help: 'units returned to stock by the expiry sweep',
  registers,
})

export const drift = new Gauge({
  name: 'seckill_drift',
  help: 'differences between Redis and PostgreSQL found by the last reconciliation, per kind',
  labelNames: ['sale', 'kind'] as const,
  registers,
})

export const redisAof = new Gauge({
  name: 'seckill_redis_aof',
  help: '1 when Redis appends to its AOF (appendonly yes), 0 when it does not: then a Redis restart loses orders not yet in PostgreSQL',
  registers,
})

export const redisFsyncAlways = new Gauge({
  name: 'seckill_redis_fsync_always',
  help: '1 when Redis fsyncs its AOF on every write (appendfsync always)',
  registers,
})

export const ordersPruned = new Counter({
  name: 'seckill_orders_pruned_total',
  help: 'cancelled and expired orders forgotten in Redis after ORDER_RETENTION_S (PostgreSQL keeps them)',
  registers,
})
