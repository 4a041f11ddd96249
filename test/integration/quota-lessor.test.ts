import t from 'tap'
import { QuotaLessor } from '../../cluster/quota-lessor'
import { freshSale, openRedis, seedSale, type Teardown } from '../helpers/redis'

/**
 * QuotaLessor against the real Redis: it reads stock and sold from the sale hash, and keeps its
 * books (what each worker holds) in memory. Each test seeds its own sale under a fresh prefix.
 */

const redis = openRedis(t)

interface Setup {
  lessor: QuotaLessor
  /** the sale hash of `s1` */
  saleKey: string
  setLive(n: number): void
}

async function setup(
  t: Teardown,
  opts: { stock: number; sold?: number; chunk: number; live: number },
): Promise<Setup> {
  const k = freshSale(t, redis)
  await seedSale(redis, k.sale, { stock: String(opts.stock), sold: String(opts.sold ?? 0) })
  let live = opts.live
  const lessor = new QuotaLessor(redis, k.prefix, opts.chunk, () => live)
  return {
    lessor,
    saleKey: k.sale,
    setLive: (n) => {
      live = n
    },
  }
}

t.test('a grant is at most the fair share of what remains, and at most the chunk', async (t) => {
  {
    const { lessor } = await setup(t, { stock: 10, chunk: 100, live: 3 })
    t.strictSame(
      await lessor.need(1, 's1', 0, 0, 0),
      { units: 4, soldOut: false, returned: 0 },
      'ceil(10/3)',
    )
  }
  {
    const { lessor } = await setup(t, { stock: 1000, sold: 400, chunk: 50, live: 2 })
    t.strictSame(
      await lessor.need(1, 's1', 0, 0, 0),
      { units: 50, soldOut: false, returned: 0 },
      'the chunk',
    )
  }
  {
    const { lessor } = await setup(t, { stock: 100, sold: 90, chunk: 500, live: 4 })
    t.strictSame(
      await lessor.need(1, 's1', 0, 0, 0),
      { units: 3, soldOut: false, returned: 0 },
      'ceil(10/4)',
    )
  }
})

t.test('the fair share follows the number of live workers', async (t) => {
  const { lessor, setLive } = await setup(t, { stock: 12, chunk: 100, live: 4 })
  t.strictSame(await lessor.need(1, 's1', 0, 0, 0), { units: 3, soldOut: false, returned: 0 })
  setLive(1)
  t.strictSame(
    await lessor.need(2, 's1', 0, 0, 0),
    { units: 9, soldOut: false, returned: 0 },
    'the rest',
  )
})

t.test('the second worker gets what is left of the pool', async (t) => {
  const { lessor } = await setup(t, { stock: 7, chunk: 5, live: 1 })
  t.strictSame(await lessor.need(1, 's1', 0, 0, 0), { units: 5, soldOut: false, returned: 0 })
  t.strictSame(await lessor.need(2, 's1', 0, 0, 0), { units: 2, soldOut: false, returned: 0 })
  t.strictSame(await lessor.need(3, 's1', 0, 0, 0), { units: 0, soldOut: false, returned: 0 })
})

t.test('units in flight count as held until the worker reports them sold', async (t) => {
  const { lessor, saleKey } = await setup(t, { stock: 10, chunk: 100, live: 1 })
  // worker 1 holds 2 unused and has 5 on their way to Redis
  t.strictSame(await lessor.need(1, 's1', 2, 5, 0), { units: 3, soldOut: false, returned: 0 })
  t.strictSame(await lessor.need(2, 's1', 0, 0, 0), { units: 0, soldOut: false, returned: 0 })
  // the 5 were sold: Redis says 5 remain, and worker 1 reports nothing in flight any more
  await redis.hset(saleKey, 'sold', 5)
  t.strictSame(await lessor.need(1, 's1', 5, 0, 0), { units: 0, soldOut: false, returned: 0 })
})

t.test('a sold-out sale answers soldOut with no units', async (t) => {
  const { lessor } = await setup(t, { stock: 10, sold: 10, chunk: 100, live: 2 })
  t.strictSame(await lessor.need(1, 's1', 0, 0, 3), { units: 0, soldOut: true, returned: 0 })
})

t.test(
  'an empty pool and waiting buyers: no units, and half of the richest worker is asked back',
  async (t) => {
    const { lessor } = await setup(t, { stock: 20, chunk: 100, live: 3 })
    t.strictSame(await lessor.need(1, 's1', 0, 0, 0), { units: 7, soldOut: false, returned: 0 })
    t.strictSame(await lessor.need(2, 's1', 0, 0, 0), { units: 7, soldOut: false, returned: 0 })
    t.strictSame(await lessor.need(3, 's1', 0, 0, 0), { units: 6, soldOut: false, returned: 0 })
    // worker 1 used 2 of its 7; worker 2 used 4 of its 7 (all still in flight)
    lessor.report(1, 's1', 5, 2)
    lessor.report(2, 's1', 3, 4)
    // worker 3 has everything in flight and buyers waiting
    t.strictSame(await lessor.need(3, 's1', 0, 6, 4), {
      units: 0,
      soldOut: false,
      returned: 0,
      release: { worker: 1, units: 3 },
    })
    // worker 1 gave 3 back (the primary records its report): the pool has them for worker 3
    lessor.report(1, 's1', 2, 2)
    t.strictSame(await lessor.need(3, 's1', 0, 6, 4), { units: 3, soldOut: false, returned: 0 })
  },
)

t.test('an empty pool and no waiting buyers: no units and no release asked', async (t) => {
  const { lessor } = await setup(t, { stock: 10, chunk: 100, live: 1 })
  t.strictSame(await lessor.need(1, 's1', 0, 0, 0), { units: 10, soldOut: false, returned: 0 })
  t.strictSame(await lessor.need(2, 's1', 0, 0, 0), { units: 0, soldOut: false, returned: 0 })
})

t.test(
  'a worker last seen with attempts in flight is asked to release 0 units, so it reports afresh',
  async (t) => {
    const { lessor, saleKey } = await setup(t, { stock: 10, chunk: 100, live: 1 })
    t.strictSame(await lessor.need(1, 's1', 0, 0, 0), { units: 10, soldOut: false, returned: 0 })
    lessor.report(1, 's1', 0, 10)
    t.strictSame(await lessor.need(2, 's1', 0, 0, 5), {
      units: 0,
      soldOut: false,
      returned: 0,
      release: { worker: 1, units: 0 },
    })
    // 9 of the 10 sold and one was refused (a limit): worker 1's answer says nothing is in flight
    await redis.hset(saleKey, 'sold', 9)
    lessor.report(1, 's1', 0, 0)
    t.strictSame(
      await lessor.need(2, 's1', 0, 0, 5),
      { units: 1, soldOut: false, returned: 0 },
      'the waiting buyers get the unit left',
    )
  },
)

t.test('no release is asked when no other worker holds quota or attempts in flight', async (t) => {
  const { lessor } = await setup(t, { stock: 10, chunk: 100, live: 1 })
  lessor.report(1, 's1', 0, 0)
  // worker 2 has all 10 in flight itself and more buyers waiting
  t.strictSame(await lessor.need(2, 's1', 0, 10, 5), { units: 0, soldOut: false, returned: 0 })
})

t.test('forgetting a dead worker returns its holdings to the pool', async (t) => {
  const { lessor } = await setup(t, { stock: 10, chunk: 100, live: 1 })
  t.strictSame(await lessor.need(1, 's1', 0, 0, 0), { units: 10, soldOut: false, returned: 0 })
  t.strictSame(await lessor.need(2, 's1', 0, 0, 0), { units: 0, soldOut: false, returned: 0 })
  lessor.forget(1)
  t.strictSame(await lessor.need(2, 's1', 0, 0, 0), { units: 10, soldOut: false, returned: 0 })
})

t.test(
  'concurrent requests for one sale are decided one at a time and never grant more than the pool',
  async (t) => {
    const { lessor } = await setup(t, { stock: 10, chunk: 100, live: 1 })
    const grants = await Promise.all([1, 2, 3, 4, 5, 6].map((w) => lessor.need(w, 's1', 0, 0, 0)))
    t.strictSame(
      grants.map((g) => g.units),
      [10, 0, 0, 0, 0, 0],
    )
    t.equal(
      grants.reduce((sum, g) => sum + g.units, 0),
      10,
    )
  },
)

t.test('concurrent requests with a fair share split the pool exactly', async (t) => {
  const { lessor } = await setup(t, { stock: 10, chunk: 100, live: 4 })
  const grants = await Promise.all([1, 2, 3, 4, 5].map((w) => lessor.need(w, 's1', 0, 0, 0)))
  t.strictSame(
    grants.map((g) => g.units),
    [3, 3, 3, 1, 0],
  )
})

t.test('a missing sale grants nothing and is not called sold out', async (t) => {
  const k = freshSale(t, redis)
  const lessor = new QuotaLessor(redis, k.prefix, 100, () => 1)
  t.strictSame(await lessor.need(1, 's1', 0, 0, 5), { units: 0, soldOut: false, returned: 0 })
})

t.test(
  'a failed Redis read rejects that request only; the one queued behind it is decided',
  async (t) => {
    const k = freshSale(t, redis)
    await seedSale(redis, k.sale, { stock: '10' })
    let failures = 1
    // the real client, but its first HMGET fails (a dropped connection)
    const flaky = new Proxy(redis, {
      get(target, prop, receiver) {
        if (prop === 'hmget' && failures > 0) {
          failures--
          return () => Promise.reject(new Error('connection lost'))
        }
        const value = Reflect.get(target, prop, receiver)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    const lessor = new QuotaLessor(flaky, k.prefix, 100, () => 1)
    const first = lessor.need(1, 's1', 0, 0, 0)
    const second = lessor.need(2, 's1', 0, 0, 0)
    await t.rejects(first, { message: 'connection lost' })
    t.strictSame(await second, { units: 10, soldOut: false, returned: 0 })
  },
)
