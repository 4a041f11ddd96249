import Redis from 'ioredis'
import t, { type Test } from 'tap'
import { ExpirySweep } from '../../cluster/expiry-sweeper'
import { pruneOnce } from '../../cluster/order-pruner'
import { ReconcileJob } from '../../cluster/reconcile-job'
import { migrate } from '../../src/db/migrations'
import { saleKeys } from '../../src/store/keys'
import { RESERVE } from '../../src/store/lua/reserve'
import type { RedisClient } from '../../src/store/redis-client'
import { defineScripts, type ScriptedRedis } from '../../src/store/scripts'
import { commandCalls, ownRedis } from '../helpers/own-redis'
import { freshSchema } from '../helpers/pg'
import { freshPrefix, openRedis, redisNowMs, seedSale, type TestRedis } from '../helpers/redis'

/**
 * The primary's periodic passes over every sale (expiry sweep, pruning, reconciliation) on a
 * node with many sales and nothing going on: each pass finds the few sales with something to do
 * in one round trip, or from their bells, and runs nothing for the others. Counted with a Redis
 * of the test's own (INFO commandstats sees no other client).
 */
const SALES = 20

async function privateRedis(
  t: Test,
): Promise<{ redis: ScriptedRedis & TestRedis; prefix: string }> {
  const own = await ownRedis(t)
  const client = new Redis(own.url, { maxRetriesPerRequest: 0 })
  t.teardown(() => client.quit())
  const redis = defineScripts(client) as ScriptedRedis & TestRedis
  return { redis, prefix: 'idle:' }
}

const ids = Array.from({ length: SALES }, (_, i) => `s${i}`)

/** One order of `saleId` through reserve-6.lua; its bell rings on a channel nobody hears. */
async function reserve(redis: TestRedis, prefix: string, saleId: string, orderId: string) {
  const k = saleKeys(prefix, saleId)
  const [r] = await redis.reserve(...RESERVE.keys(k), 1, orderId, 'u1', 1, '', k.bell)
  if (r?.[0] !== 0) throw new Error(`${orderId} not reserved: ${JSON.stringify(r)}`)
}

/** Script runs: EVALSHA, or EVAL for a script's first run on this Redis (after NOSCRIPT). */
async function scriptCalls(redis: RedisClient): Promise<number> {
  const calls = await commandCalls(redis)
  return (calls.evalsha ?? 0) + (calls.eval ?? 0)
}

t.test('the expiry sweep runs its script only for sales with an order due', async (t) => {
  const { redis, prefix } = await privateRedis(t)
  // Nothing to pay for: an order's deadline is the moment it is made.
  for (const id of ids) await seedSale(redis, saleKeys(prefix, id).sale, { ttl: '0' })
  await reserve(redis, prefix, 's7', 's7.1')
  let clock = await redisNowMs(redis)
  // The safety net every 1.5 s: the passes below run well inside one period even on a loaded
  // machine, and it is short enough to wait for.
  const sweep = new ExpirySweep(
    redis,
    prefix,
    () => clock,
    () => {},
    1500,
  )
  await redis.config('RESETSTAT')

  let returned = await sweep.once(ids)
  t.same([...returned], [['s7', 1]], "the first pass reads every sale's deadline and expires s7")
  t.equal(await scriptCalls(redis), 1, `one script call for ${SALES} sales`)
  t.equal(await redis.zcard(saleKeys(prefix, 's7').expiry), 0, 's7 has no deadline left')

  // An order whose bell this sweep did not hear: no pass looks at s3 until the safety net.
  await reserve(redis, prefix, 's3', 's3.1')
  clock = await redisNowMs(redis)
  await redis.config('RESETSTAT')
  returned = await sweep.once(ids)
  t.equal(returned.size, 0, 'a pass right after finds nothing due')
  t.equal(await scriptCalls(redis), 0, 'and runs no script')
  t.equal(await redis.zcard(saleKeys(prefix, 's3').expiry), 1, "s3's order is still reserved")

  await new Promise((r) => setTimeout(r, 1600))
  clock = await redisNowMs(redis)
  returned = await sweep.once(ids)
  t.same(
    [...returned],
    [['s3', 1]],
    "the safety net's pass reads the deadlines again and sweeps s3",
  )

  // A bell heard: the sale is swept on the next pass, whatever was remembered.
  await reserve(redis, prefix, 's5', 's5.1')
  sweep.ring('s5')
  clock = await redisNowMs(redis)
  await redis.config('RESETSTAT')
  returned = await sweep.once(ids)
  t.same([...returned], [['s5', 1]], 'a rung sale is swept on the next pass')
  t.equal(await scriptCalls(redis), 1, 'with one script call')
})

t.test('pruning runs its script only for sales with a final order past retention', async (t) => {
  const { redis, prefix } = await privateRedis(t)
  const now = await redisNowMs(redis)
  const retentionMs = 60_000
  for (const id of ids) await seedSale(redis, saleKeys(prefix, id).sale, {})
  // What the writer lists once PostgreSQL holds a final state: one old enough, one too recent.
  await redis.zadd(saleKeys(prefix, 's2').final, now - 2 * retentionMs, 's2.1')
  await redis.zadd(saleKeys(prefix, 's4').final, now, 's4.1')
  await redis.config('RESETSTAT')

  await pruneOnce(
    redis,
    prefix,
    retentionMs,
    () => ids,
    () => now,
  )
  t.equal(await scriptCalls(redis), 1, `one script call for ${SALES} sales`)
  t.equal(await redis.zcard(saleKeys(prefix, 's2').final), 0, "s2's old entry is gone")
  t.equal(await redis.zcard(saleKeys(prefix, 's4').final), 1, "s4's recent one stays")
})

t.test(
  'reconciliation audits a sale again only after its bell, a drift, or a full pass',
  async (t) => {
    const redis = openRedis(t)
    const prefix = freshPrefix(t, redis)
    const { schema, pool } = freshSchema(t)
    await migrate(pool, schema)
    const sales = ['a', 'b', 'c']
    for (const id of sales) await seedSale(redis, saleKeys(prefix, id).sale, {})
    const job = new ReconcileJob(redis as unknown as ScriptedRedis, pool, prefix, () => sales)

    t.same(await job.once(), sales, 'the first pass audits every sale')
    t.same(await job.once(), [], 'a pass with no bell audits none')
    job.ring('b')
    t.same(await job.once(), ['b'], 'a rung sale is audited on the next pass')

    // A row no script made (a phantom, I5), which no bell tells of.
    await pool.query(
      `INSERT INTO orders (order_id, sale_id, user_id, quantity, status, created_at, expires_at)
     VALUES ('c.x', 'c', 'u', 1, 'reserved', now(), now())`,
    )
    // Passes 4 to 10 are quiet; the 11th (every tenth after the first) audits every sale.
    for (let pass = 4; pass <= 10; pass++) t.same(await job.once(), [], `pass ${pass} audits none`)
    t.same(await job.once(), sales, 'the full pass audits every sale and finds c drifting')
    t.same(await job.once(), ['c'], 'a drifting sale is audited again on every pass')

    job.resync()
    t.same(await job.once(), sales, 'after the bell reconnects, every sale is audited')
  },
)
