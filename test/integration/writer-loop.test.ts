import { join } from 'node:path'
import t, { type Test } from 'tap'
import { SaleWatch } from '../../cluster/sale-watch'
import { migrate } from '../../src/db/migrations'
import { orderEntry } from '../../src/orders/order-record'
import type { WriterLoop as Loop, WriterMetrics } from '../../src/orders/writer/writer-loop'
import { saleKeys, salesIndexKey } from '../../src/store/keys'
import { RESERVE } from '../../src/store/lua/reserve'
import { SaleBell } from '../../src/store/sale-bell'
import { commandCalls, ownRedis } from '../helpers/own-redis'
import { DATABASE_URL, freshSchema, ordersOf, waitFor } from '../helpers/pg'
import { freshPrefix, openRedis, REDIS_URL, redisTarget, seedSale } from '../helpers/redis'

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

/**
 * The loop counts a step's rows when its task returns, just after the commit made them visible
 * in PostgreSQL: wait until the count reaches `n`, then a little longer, so that a second write
 * of the same rows would be counted before the test compares.
 */
async function counted(written: () => number, n: number): Promise<void> {
  await waitFor(`${n} rows counted as written`, async () => written() >= n)
  await new Promise((r) => setTimeout(r, 200))
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

function loopOn(
  prefix: string,
  schema: string,
  metrics: WriterMetrics,
  idleMs = 20,
  redisUrl = REDIS_URL,
): Loop {
  return new WriterLoop(
    {
      threads: 1,
      consumer: 'n1',
      idleMs,
      claimIdleMs: 30_000,
      now: () => Date.now(),
      task: {
        redis: redisTarget(redisUrl),
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
    const watch = new SaleWatch(redis, prefix, {
      ringGapMs: 50,
      resyncMs: 50,
      onError: (err) => t.fail(err.message),
    })
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
      await counted(() => seen.written, 2)
      t.equal(seen.written, 2, 'each order written once')
      await waitFor('the backlog gauges at 0', async () => seen.backlog.get('after') === 0)
      t.equal(seen.backlog.get('before'), 0, 'both streams are drained')
    } finally {
      watch.stop()
      await loop.stop()
    }
  },
)

/** A loop whose safety-net read is an hour away, woken only by its bell; stopped at teardown. */
async function belledLoop(t: Test, name: string) {
  const redis = openRedis(t)
  const prefix = freshPrefix(t, redis)
  const { schema, pool } = freshSchema(t)
  await migrate(pool, schema)
  const { seen, metrics } = counting()
  const loop = loopOn(prefix, schema, metrics, 3_600_000)
  let resyncs = 0
  const bell = new SaleBell(redisTarget(), prefix, name)
  bell.listen(loop)
  bell.listen({ ring: () => {}, resync: () => void resyncs++ })
  bell.start()
  t.teardown(async () => {
    bell.stop()
    await loop.stop()
  })
  await waitFor('the bell subscribed', async () => resyncs === 1)
  const k = saleKeys(prefix, 's1')
  await seedSale(redis, k.sale, { stock: '100' })
  loop.track('s1')
  /** one purchase through reserve-6.lua, which rings the bell when it appends */
  const buy = async (orderId: string) => {
    const [r] = await redis.reserve(...RESERVE.keys(k), 1, orderId, orderId, 1, '', k.bell)
    t.equal(r?.[0], 0, `${orderId} reserved`)
  }
  return { redis, pool, seen, buy, resyncs: () => resyncs }
}

t.test('a parked writer writes a new order when the purchase rings its bell', async (t) => {
  const w = await belledLoop(t, `bell-test-${process.pid}-a`)
  // The loop's first steps find an empty stream and park; nothing reads it for an hour but bells.
  await new Promise((r) => setTimeout(r, 300))
  for (const id of ['s1.a', 's1.b', 's1.c']) {
    const t0 = Date.now()
    await w.buy(id)
    await waitFor(`${id} in PostgreSQL`, async () =>
      (await ordersOf(w.pool, 's1')).some((o) => o.order_id === id),
    )
    t.ok(Date.now() - t0 < 5000, `${id} written within seconds, not at the hourly read`)
  }
  await counted(() => w.seen.written, 3)
  t.equal(w.seen.written, 3, 'each order written once')
})

t.test(
  'the bell comes back by itself after its connection is killed, and reads what it missed',
  async (t) => {
    const name = `bell-test-${process.pid}-b`
    const w = await belledLoop(t, name)
    await new Promise((r) => setTimeout(r, 300))
    await w.buy('s1.before')
    await waitFor(
      'the first order in PostgreSQL',
      async () => (await ordersOf(w.pool, 's1')).length === 1,
    )

    // Kill the bell's connection; the order bought while it is down rings for nobody.
    const list = String(await w.redis.call('CLIENT', 'LIST', 'TYPE', 'pubsub'))
    const id = new RegExp(`^id=(\\d+) .* name=${name} `, 'm').exec(list)?.[1]
    t.ok(id, 'the bell has its own named connection')
    t.equal(String(await w.redis.client('KILL', 'ID', id!)), '1', 'that connection was killed')
    await w.buy('s1.during')
    await waitFor('the bell resubscribed', async () => w.resyncs() === 2)
    await waitFor('the order bought while it was down in PostgreSQL', async () =>
      (await ordersOf(w.pool, 's1')).some((o) => o.order_id === 's1.during'),
    )
    await w.buy('s1.after')
    await waitFor('the order bought after in PostgreSQL', async () =>
      (await ordersOf(w.pool, 's1')).some((o) => o.order_id === 's1.after'),
    )
    await counted(() => w.seen.written, 3)
    t.equal(w.seen.written, 3, 'each order written once')
  },
)

t.test(
  'the safety net reads only the streams that hold entries, and writes an order whose bell was missed',
  async (t) => {
    // A Redis of the test's own: its command counts are the loop's alone.
    const own = await ownRedis(t)
    const prefix = 'net:'
    const { schema, pool } = freshSchema(t)
    await migrate(pool, schema)
    const { seen, metrics } = counting()
    const loop = loopOn(prefix, schema, metrics, 200, own.url)
    t.teardown(() => loop.stop())
    const sales = Array.from({ length: 20 }, (_, i) => `s${i}`)
    for (const id of sales) loop.track(id)
    // Each sale's first steps read its (empty) stream, then the loop parks.
    await waitFor('every stream read once', async () => {
      const calls = await commandCalls(own.client)
      return (calls.xreadgroup ?? 0) >= 2 * sales.length
    })
    await new Promise((r) => setTimeout(r, 300))
    await own.client.config('RESETSTAT')
    await new Promise((r) => setTimeout(r, 1000))
    const calls = await commandCalls(own.client)
    t.ok(
      (calls.xlen ?? 0) >= sales.length * 3,
      `the net looked at every stream (${calls.xlen} XLEN)`,
    )
    t.equal(calls.xreadgroup ?? 0, 0, 'and read none of them: all empty')

    // An order appended with no bell (a bell lost while the subscriber was away).
    await own.client.xadd(saleKeys(prefix, 's7').stream, '*', ...entry('s7'))
    await waitFor('the order in PostgreSQL', async () => (await ordersOf(pool, 's7')).length === 1)
    await counted(() => seen.written, 1)
    t.equal(seen.written, 1, 'written once, by the safety net')
  },
)
