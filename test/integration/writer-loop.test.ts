import { join } from 'node:path'
import t from 'tap'
import { SaleWatch } from '../../cluster/sale-watch'
import { migrate } from '../../src/db/migrations'
import { orderEntry } from '../../src/orders/order-record'
import type { WriterLoop as Loop, WriterMetrics } from '../../src/orders/writer/writer-loop'
import { saleKeys, salesIndexKey } from '../../src/store/keys'
import { DATABASE_URL, freshSchema, ordersOf, waitFor } from '../helpers/pg'
import { freshPrefix, openRedis, REDIS_URL, seedSale } from '../helpers/redis'

/**
 * The writer loop and the sale watch, in this process, with no primary and no workers: the watch
 * tells the writer about every sale it finds in Redis (here, sales another node made), and the
 * writer writes their orders. The built loop is used (npm run build): its Piscina threads load
 * writer-task.js next to it.
 */
const { WriterLoop } = require(join(__dirname, '../../dist/src/orders/writer/writer-loop.js')) as {
  WriterLoop: typeof Loop
}

function counting() {
  const seen = { written: 0, backlog: new Map<string, number>() }
  const metrics: WriterMetrics = {
    ordersWritten: {
      inc: (n) => {
        seen.written += n
      },
    },
    writerBatch: { observe: () => {} },
    writerFailures: { inc: () => {} },
    deadLetters: { inc: () => {} },
    writerBacklog: { labels: (sale) => ({ set: (v) => void seen.backlog.set(sale, v) }) },
    writerLag: { labels: () => ({ set: () => {} }) },
  }
  return { seen, metrics }
}

function entry(saleId: string): string[] {
  return orderEntry({
    orderId: `${saleId}.1`,
    userId: 'u1',
    quantity: 1,
    createdAt: 1_700_000_000_000,
    expiresAt: 1_700_000_300_000,
    idempotencyKey: '',
    status: 'reserved',
    paidAt: '',
  })
}

function loopOn(prefix: string, schema: string, metrics: WriterMetrics): Loop {
  return new WriterLoop(
    {
      threads: 1,
      consumer: 'n1',
      idleMs: 20,
      claimIdleMs: 30_000,
      now: () => Date.now(),
      task: {
        redisUrl: REDIS_URL,
        redisTimeoutMs: 2000,
        pg: { url: DATABASE_URL, schema, max: 2, name: 'writer-loop-test' },
        writer: { prefix, batch: 100, claimIdleMs: 30_000, maxDeliveries: 5, crashAt: null },
      },
    },
    metrics,
  )
}

t.test(
  'sales another node made are written, the sale watch telling the writer about them',
  async (t) => {
    const redis = openRedis(t)
    const prefix = freshPrefix(t, redis)
    const { schema, pool } = freshSchema(t)
    await migrate(pool, schema)
    const { seen, metrics } = counting()
    const loop = loopOn(prefix, schema, metrics)
    // No workers here: the writer is the watch's only listener.
    const watch = new SaleWatch(redis, prefix, 50, (err) => t.fail(err.message))
    watch.onSale((sale) => loop.track(sale.id))
    // Another node's sale: its hash, its place in the index and one order, straight into Redis.
    const made = async (saleId: string) => {
      await seedSale(redis, saleKeys(prefix, saleId).sale, {})
      await redis.sadd(salesIndexKey(prefix), saleId)
      await redis.xadd(saleKeys(prefix, saleId).stream, '*', ...entry(saleId))
    }
    await made('before')
    await watch.start()
    try {
      await made('after')
      for (const saleId of ['before', 'after']) {
        await waitFor(`sale "${saleId}" in PostgreSQL`, async () => {
          return (await ordersOf(pool, saleId)).length === 1
        })
      }
      t.equal(seen.written, 2, 'each order written once')
      await waitFor('the backlog gauges at 0', async () => seen.backlog.get('after') === 0)
      t.equal(seen.backlog.get('before'), 0, 'both streams are drained')
    } finally {
      watch.stop()
      await loop.stop()
    }
  },
)
