import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Redis } from 'ioredis'
import t from 'tap'
import { type OwnCluster, ownCluster } from '../../bench/harness/own-cluster'
import { launch, untilExit } from '../../bench/harness/spawn'
import { newPrefix } from '../../bench/harness/store-fixture'
import { createSale, listSaleIds, readSales, setSaleState } from '../../src/sale/sale-store'
import { durabilityShortfall, readDurability } from '../../src/store/durability'
import { saleKeys, salesIndexKey } from '../../src/store/keys'
import { callReserve, encodeAttempts } from '../../src/store/lua/reserve'
import { checkRedisPolicy, connectRedis, type RedisTarget } from '../../src/store/redis'
import { addressOf, mastersOf } from '../../src/store/redis-client'
import { SaleBell } from '../../src/store/sale-bell'
import type { ScriptedRedis } from '../../src/store/scripts'
import { keySlot } from '../helpers/key-slot'
import { commandCalls } from '../helpers/own-redis'
import { deleteUnder } from '../helpers/redis'
import { ROOT } from '../helpers/server'

/**
 * REDIS_CLUSTER=on against a real Redis Cluster of three masters that this file starts
 * (bench/harness/own-cluster.ts): the Lua contract tests and the cluster sale pass on it, a
 * sale's keys all sit in one slot of one master, sales spread over the masters, and a node's
 * start checks (eviction, durability, scripts) look at every master.
 */

let cluster: OwnCluster
let target: RedisTarget
let redis: ScriptedRedis

t.before(async () => {
  cluster = await ownCluster(t)
  target = { REDIS_URL: cluster.url, REDIS_CLUSTER: 'on' }
  redis = await connectRedis(target, 'redis-cluster-test', 2000)
  t.teardown(() => redis.disconnect())
})

/** The master (its port) that serves `slot`, from CLUSTER SLOTS. */
async function ownerOf(slot: number): Promise<number> {
  const ranges = await cluster.nodes[0]!.client.cluster('SLOTS')
  const range = ranges.find(([from, to]) => slot >= from && slot <= to)
  if (!range) throw new Error(`no master serves slot ${slot}`)
  return Number(range[2]?.[1])
}

/** The child runs its tests as a file run by hand: not as one of this run's (TAP_*) children. */
function outsideTap(): Record<string, undefined> {
  const names = Object.keys(process.env).filter(
    (k) => /^(TAP|_TAPJS_)/.test(k) || k === 'NODE_OPTIONS',
  )
  return Object.fromEntries(names.map((k) => [k, undefined]))
}

const SALE = {
  name: 'Phone',
  stock: 10,
  perUserLimit: 2,
  startsAt: null,
  endsAt: null,
  paymentTtlSeconds: 300,
}

t.test('the slot the tests compute for a key is the one CLUSTER KEYSLOT answers', async (t) => {
  const node = cluster.nodes[0]!.client
  const k = saleKeys('sk:', 'phone')
  const keys = [...Object.values(k), salesIndexKey('sk:'), '123456789', 'a{}b}', '{}', 'x{y}{z}']
  for (const key of keys) {
    t.equal(keySlot(key), await node.cluster('KEYSLOT', key), key)
  }
})

t.test('the Lua contract tests and the cluster sale pass against the cluster', async (t) => {
  const files = [
    ...readdirSync(join(ROOT, 'test', 'lua'))
      .filter((f) => f.endsWith('.test.ts'))
      .map((f) => join('test', 'lua', f)),
    join('test', 'integration', 'cluster-sale.test.ts'),
  ]
  for (const n of cluster.nodes) await n.client.config('RESETSTAT')
  // All the files in one process (test/fixtures/run-ts-tests.js): tap would start one per file.
  const child = launch(
    process.execPath,
    [join(ROOT, 'test', 'fixtures', 'run-ts-tests.js'), ...files],
    // Its root test's bound, in seconds, as tap's runner gives each file (package.json).
    { ...outsideTap(), TAP_TIMEOUT: '100', REDIS_URL: cluster.url, REDIS_CLUSTER: 'on' },
  )
  const { code, out } = await untilExit(child, 100_000)
  const summary = /^# \{ total: (\d+), pass: (\d+)(.*)\}$/m.exec(out)
  const failed = out.split('\n').filter((line) => /^\s*not ok /.test(line))
  t.equal(code, 0, 'the run exited 0')
  t.strictSame(failed, [], 'no assertion failed')
  t.ok(summary && Number(summary[1]) > 0 && summary[1] === summary[2], `summary: ${summary?.[0]}`)
  if (code !== 0 || failed.length > 0) t.comment(out.slice(-3000))
  for (const n of cluster.nodes) {
    const calls = await commandCalls(n.client)
    const scripts = (calls.evalsha ?? 0) + (calls.eval ?? 0)
    t.ok(scripts > 0, `the scripts ran on master ${n.port} too (${scripts} calls)`)
  }
})

t.test("sales spread over the masters, and each sale's keys are in one slot of one", async (t) => {
  const prefix = newPrefix()
  t.teardown(() => deleteUnder(redis, prefix))
  const ids = Array.from({ length: 9 }, (_, i) => `rush-${i}`)
  for (const id of ids) {
    t.equal(await createSale(redis, prefix, { id, ...SALE }), 'created')
    t.equal(await setSaleState(redis, prefix, id, 'start'), 'ok')
    const attempt = { orderId: `${id}.1`, userId: 'u1', quantity: 1, idemKey: 'k1' }
    const [r] = await callReserve(redis, prefix, id, encodeAttempts([attempt]))
    t.equal(r?.outcome, 'reserved', `sale ${id}: an order reserved`)
  }
  t.strictSame((await listSaleIds(redis, prefix)).sort(), ids, 'the index lists every sale')
  t.equal((await readSales(redis, prefix, ids)).length, 9, 'one read of all nine, over shards')

  // Where each key is, asked of each master itself (SCAN answers for its own shard only).
  const holder = new Map<string, number>()
  for (const n of cluster.nodes) {
    for (const key of await n.client.keys(`${prefix}*`)) holder.set(key, n.port)
  }
  const mastersHolding = new Set<number>()
  for (const id of ids) {
    const keys = Object.entries(saleKeys(prefix, id))
      .filter(([name]) => name !== 'bell' && name !== 'dead' && name !== 'final')
      .map(([, key]) => key)
    const ports = new Set(keys.map((k) => holder.get(k)))
    const slot = keySlot(keys[0]!)
    const owner = await ownerOf(slot)
    t.strictSame([...ports], [owner], `sale ${id}: its ${keys.length} keys on master ${owner}`)
    const node = cluster.nodes.find((n) => n.port === owner)!.client
    t.equal(
      await node.cluster('COUNTKEYSINSLOT', slot),
      keys.length,
      `sale ${id}: slot ${slot} holds exactly its keys`,
    )
    mastersHolding.add(owner)
  }
  t.equal(mastersHolding.size, 3, 'the nine sales are spread over all three masters')
})

t.test("a node's start checks look at every master", async (t) => {
  const [a, b, c] = cluster.nodes.map((n) => n.client) as [Redis, Redis, Redis]
  const port = (r: Redis) => cluster.nodes.find((n) => n.client === r)!.port
  t.equal(mastersOf(redis).length, 3, 'the client knows the three masters')
  await checkRedisPolicy(redis)

  await c.config('SET', 'maxmemory-policy', 'allkeys-lru')
  t.teardown(() => c.config('SET', 'maxmemory-policy', 'noeviction'))
  await t.rejects(
    checkRedisPolicy(redis),
    new RegExp(`"allkeys-lru" on cluster master 127\\.0\\.0\\.1:${port(c)}`),
    'one master that may evict refuses the start, named',
  )
  await c.config('SET', 'maxmemory-policy', 'noeviction')

  for (const node of [a, b]) {
    await node.config('SET', 'appendonly', 'yes')
    await node.config('SET', 'appendfsync', 'everysec')
  }
  t.teardown(async () => {
    for (const node of [a, b]) await node.config('SET', 'appendonly', 'no')
  })
  const weakest = await readDurability(redis)
  t.match(
    weakest,
    { aof: false, masters: 3, node: `127.0.0.1:${port(c)}` },
    'the master with no AOF',
  )
  t.match(durabilityShortfall(weakest, 'aof'), `(cluster master 127.0.0.1:${port(c)})`)
  await c.config('SET', 'appendonly', 'yes')
  t.teardown(() => c.config('SET', 'appendonly', 'no'))
  const all = await readDurability(redis)
  t.match(all, { aof: true, fsync: 'everysec', masters: 3 }, 'AOF on all three')
  t.equal(durabilityShortfall(all, 'aof'), null, 'REDIS_DURABILITY=aof is met')

  const single = await connectRedis(
    { REDIS_URL: `redis://127.0.0.1:${port(a)}`, REDIS_CLUSTER: 'off' },
    'redis-cluster-test',
    2000,
  )
  t.teardown(() => single.disconnect())
  await t.rejects(
    checkRedisPolicy(single),
    /REDIS_URL names a node of a Redis Cluster \(cluster_enabled:1\): set REDIS_CLUSTER=on/,
    'a cluster node taken for a single Redis is refused, saying what to set',
  )
  t.equal(addressOf(a), `127.0.0.1:${port(a)}`)
})

t.test("one bell subscription hears every shard's sales, after its resync", async (t) => {
  const prefix = newPrefix()
  t.teardown(() => deleteUnder(redis, prefix))
  const ids = ['bell-0', 'bell-1', 'bell-2', 'bell-3', 'bell-4', 'bell-5']
  const owners = new Set(await Promise.all(ids.map((id) => ownerOf(keySlot(`{${id}}`)))))
  t.equal(owners.size, 3, 'the sales live on all three masters')
  const rang = new Set<string>()
  let resyncs = 0
  const bell = new SaleBell(target, prefix, 'redis-cluster-bell')
  t.teardown(() => bell.stop())
  const subscribed = new Promise<void>((resolve) => {
    bell.listen({
      ring: (id) => void rang.add(id),
      resync: () => {
        resyncs++
        resolve()
      },
    })
  })
  bell.start()
  await subscribed
  t.equal(resyncs, 1, 'told to resync once, when the subscription was in place')
  for (const id of ids) await createSale(redis, prefix, { id, ...SALE })
  const t0 = Date.now()
  while (rang.size < ids.length && Date.now() - t0 < 5000)
    await new Promise((r) => setTimeout(r, 20))
  t.strictSame([...rang].sort(), ids, 'every sale rang, whichever master it is on')
})
