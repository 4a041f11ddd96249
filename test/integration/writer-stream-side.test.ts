import t from 'tap'
import { type EntryValues, orderEntry } from '../../src/orders/order-record'
import { type StreamOptions, StreamSide } from '../../src/orders/writer/stream-side'
import { saleKeys, WRITER_GROUP } from '../../src/store/keys'
import { freshPrefix, openRedis, type Teardown, type TestRedis } from '../helpers/redis'

/**
 * The order writer's stream side on its own, against the real Redis (a fresh prefix per test),
 * with no PostgreSQL: what it reads through the consumer group, and that an entry leaves the
 * stream only when told (settled or dead-lettered), never by itself.
 */

const redis = openRedis(t)

function entry(n: number, change: Partial<EntryValues> = {}): string[] {
  return orderEntry({
    orderId: `s1.${n}`,
    userId: `u${n}`,
    quantity: 1,
    createdAt: 1_700_000_000_000,
    expiresAt: 1_700_000_300_000,
    idempotencyKey: '',
    status: 'reserved',
    paidAt: '',
    ...change,
  })
}

function setUp(t: Teardown, change: Partial<StreamOptions> = {}) {
  const prefix = freshPrefix(t, redis)
  const side = new StreamSide(redis, {
    prefix,
    batch: 10,
    claimIdleMs: 100,
    maxDeliveries: 2,
    ...change,
  })
  const k = saleKeys(prefix, 's1')
  const add = (n: number, change?: Partial<EntryValues>) =>
    redis.xadd(k.stream, '*', ...entry(n, change)) as Promise<string>
  return { side, k, add }
}

async function pending(r: TestRedis, stream: string): Promise<number> {
  return ((await r.xpending(stream, WRITER_GROUP)) as [number])[0]
}

t.test('new entries are delivered once and stay pending until settled', async (t) => {
  const { side, add } = setUp(t)
  const ids = [await add(1), await add(2)]
  const first = await side.read('s1', 'a', 'new')
  t.same(
    first.entries.map((e) => e[0]),
    ids,
    'both entries, in stream order',
  )
  t.same(first.entries[0]?.[1], entry(1), 'field for field as appended')
  t.same((await side.read('s1', 'a', 'new')).entries, [], 'a second read of new finds nothing')
  t.same(
    (await side.read('s1', 'a', 'pending')).entries.map((e) => e[0]),
    ids,
    'but they are pending with the consumer that read them',
  )
  t.same(await side.measure('s1'), { backlog: 2, oldestMs: Number(ids[0]?.split('-')[0]) })
})

t.test('settling acks and deletes the entries and lists final orders for retention', async (t) => {
  const { side, k, add } = setUp(t)
  const ids = [await add(1), await add(2, { status: 'cancelled' })]
  await side.read('s1', 'a', 'new')
  await side.settle('s1', ids, [1234, 's1.2'])
  t.equal(await redis.xlen(k.stream), 0, 'the stream is empty')
  t.equal(await pending(redis, k.stream), 0, 'nothing is pending')
  t.equal(await redis.zscore(k.final, 's1.2'), '1234', 'the final order is listed')
  t.same(await side.measure('s1'), { backlog: 0, oldestMs: null })
})

t.test('a refused entry is dead-lettered only once delivered maxDeliveries times', async (t) => {
  const { side, k, add } = setUp(t)
  const id = await add(1)
  const [e] = (await side.read('s1', 'a', 'new')).entries
  t.equal(await side.deadLetterIfSpent('s1', e!, 'refused', 'a'), null, 'kept after 1 delivery')
  t.equal(await redis.xlen(k.stream), 1, 'still in the stream')
  const [again] = (await side.read('s1', 'a', 'pending')).entries
  t.match(
    await side.deadLetterIfSpent('s1', again!, 'refused', 'a'),
    { entry: again![0], deliveries: 2, err: 'refused' },
    'moved after 2, with the note the log line is made of',
  )
  t.equal(await redis.xlen(k.stream), 0, 'gone from the stream')
  t.equal(await pending(redis, k.stream), 0, 'and from the pending list')
  const dead = await redis.xrange(k.dead, '-', '+')
  t.same(
    dead.map((d) => d[1]),
    [['streamId', id, 'error', 'refused', 'deliveries', '2', 'consumer', 'a', ...entry(1)]],
    'the dead-letter entry says why, and holds the entry field for field',
  )
})

t.test("entries idle in another consumer's pending list are claimed", async (t) => {
  const { side, add } = setUp(t)
  const id = await add(1)
  await side.read('s1', 'dead-node', 'new')
  t.same((await side.read('s1', 'b', 'claim')).entries, [], 'not before claimIdleMs')
  await new Promise((r) => setTimeout(r, 150))
  const claimed = await side.read('s1', 'b', 'claim')
  t.same(
    claimed.entries.map((e) => e[0]),
    [id],
    'taken over after claimIdleMs',
  )
  t.equal(claimed.cursor, '0-0', 'and the scan is complete')
})

t.test('a consumer group that disappeared is created again on the next read', async (t) => {
  const { side, k, add } = setUp(t)
  await side.read('s1', 'a', 'new')
  // Redis lost the stream, group and all; a new entry makes a stream with no group.
  await redis.del(k.stream)
  const id = await add(1)
  await t.rejects(side.read('s1', 'a', 'new'), /NOGROUP/, 'the first read meets NOGROUP')
  t.same(
    (await side.read('s1', 'a', 'new')).entries.map((e) => e[0]),
    [id],
    'the next read recreates the group and delivers the entry',
  )
})
