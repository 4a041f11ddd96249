import t from 'tap'
import { saleKeys } from '../../src/store/keys'
import { pool } from '../helpers/http'
import { ownRedis } from '../helpers/own-redis'
import { ordersOf, waitFor } from '../helpers/pg'
import { redisNowMs } from '../helpers/redis'
import { type CliTarget, runCli, startServer } from '../helpers/server'

/**
 * "Redis lost its data anyway": a private redis-server without AOF is killed and started empty,
 * and `seckill restore` rebuilds the sale from PostgreSQL before it reopens. After the rebuild
 * the sale keeps its stock and sold (I2), every holding (I3) and every Idempotency-Key (I6), and
 * no more than its stock is ever sold. Its cancelled order is listed for pruning again.
 */
type Deployment = CliTarget
const cli = runCli

t.test(
  'a sale rebuilt from PostgreSQL after Redis lost everything sells nothing twice',
  async (t) => {
    const redis = await ownRedis(t)
    const srv = await startServer(t, { workers: 1, redisUrl: redis.url })
    const d: Deployment = { redisUrl: redis.url, prefix: srv.prefix, schema: srv.pg.schema }
    await srv.sale('rs', { stock: 10, perUserLimit: 2 })

    const buy = (userId: string, quantity = 1, key?: string) =>
      srv.http.request(
        'POST',
        '/api/v1/sales/rs/orders',
        { userId, quantity },
        key ? { 'idempotency-key': key } : {},
      )
    const alice = await buy('alice', 2, 'key-alice') // reserved, at the limit
    const bob = await buy('bob', 1, 'key-bob') // paid
    const carol = await buy('carol', 1, 'key-carol') // cancelled
    const dave = await buy('dave') // reserved, paid after the rebuild
    const erin = await buy('erin', 2) // paid, at the limit
    t.same(
      [alice, bob, carol, dave, erin].map((r) => r.status),
      [201, 201, 201, 201, 201],
      'five orders reserved',
    )
    const settle = async (id: string, action: 'pay' | 'cancel') =>
      (await srv.http.request('POST', `/api/v1/orders/${id}/${action}`)).status
    t.equal(await settle(bob.json.orderId, 'pay'), 200, "bob's order paid")
    t.equal(await settle(erin.json.orderId, 'pay'), 200, "erin's order paid")
    t.equal(await settle(carol.json.orderId, 'cancel'), 200, "carol's order cancelled")

    const wanted = {
      alice: 'reserved',
      bob: 'paid',
      carol: 'cancelled',
      dave: 'reserved',
      erin: 'paid',
    }
    await waitFor('PostgreSQL to hold the five orders in their states and the sale', async () => {
      const rows = await ordersOf(srv.pg.pool, 'rs')
      const states = Object.fromEntries(rows.map((r) => [r.user_id, r.status]))
      const sale = await srv.pg.pool.query('SELECT started FROM sales WHERE sale_id = $1', ['rs'])
      return (
        rows.length === 5 &&
        Object.entries(wanted).every(([user, status]) => states[user] === status) &&
        (await srv.state('rs')).streamLength === 0 &&
        sale.rows[0]?.started === true
      )
    })
    const row = await srv.pg.pool.query(
      'SELECT name, stock, per_user_limit, payment_ttl_seconds, started, closed FROM sales',
    )
    t.same(
      row.rows,
      [
        {
          name: 'rs',
          stock: '10',
          per_user_limit: 2,
          payment_ttl_seconds: 300,
          started: true,
          closed: false,
        },
      ],
      'the primary copied the sale definition to PostgreSQL',
    )
    const before = await srv.admin('GET', '/api/v1/sales/rs')
    t.match(before.json, { stock: 10, sold: 6, remaining: 4, state: 'open' }, 'sold 6 of 10')

    // Redis loses everything: no AOF, no RDB, a restart comes back empty. The node restarts too.
    await srv.stop()
    await redis.kill()
    await redis.start()
    t.equal(await redis.client.dbsize(), 0, 'Redis came back empty')
    const node = await startServer(t, {
      workers: 1,
      redisUrl: redis.url,
      pg: srv.pg,
      prefix: srv.prefix,
    })
    t.equal((await node.http.request('GET', '/api/v1/sales/rs')).status, 404, 'the sale is gone')

    let r = cli(d, 'reconcile')
    t.equal(r.code, 1, 'reconcile reports the lost sale: exit 1')
    t.match(
      r.out,
      /sale rs: not in Redis .*`seckill restore --sale rs` rebuilds it/,
      'and names the fix',
    )

    // Two orders per Lua call: the multi-chunk path, the sale invisible until the last chunk.
    const restoreFrom = await redisNowMs(redis.client)
    r = cli(d, 'restore', '--sale', 'rs', '--chunk', '2')
    const restoreTo = await redisNowMs(redis.client)
    t.equal(r.code, 0, `restore exits 0\n${r.out}`)
    t.match(
      r.out,
      /sale rs: restored from PostgreSQL: 5 orders \(2 reserved, 2 paid, 1 cancelled\) in 3 calls/,
      'says what it restored',
    )
    t.match(
      r.out,
      /sold 6 of 10, 5 orders, 4 users holding units, 3 idempotency keys, 2 payment deadlines/,
      'and what Redis now holds: holdings, keys and deadlines of the reserved orders',
    )
    t.match(
      r.out,
      /not started: .*curl -XPOST .*\/api\/v1\/sales\/rs\/start/,
      'and how to reopen it',
    )
    const finalKey = saleKeys(srv.prefix, 'rs').final
    const listed = await redis.client.zrange(finalKey, 0, -1, 'WITHSCORES')
    t.same(
      listed.filter((_, i) => i % 2 === 0),
      [carol.json.orderId],
      "the final zset lists exactly carol's cancelled order, so the pruner forgets it in time",
    )
    t.ok(
      Number(listed[1]) >= restoreFrom && Number(listed[1]) <= restoreTo,
      `scored with the Redis time of the restore (${listed[1]} in [${restoreFrom}, ${restoreTo}])`,
    )

    r = cli(d, 'restore', '--sale', 'rs')
    t.equal(r.code, 1, 'restoring a sale that exists in Redis is refused: exit 1')
    t.match(
      r.out,
      /sale rs: exists in Redis \(sold 6 of 10\); not restored/,
      'with a clear message',
    )
    t.match(r.out, /--merge/, 'naming the flag that adds to it')
    r = cli(d, 'restore', '--all')
    t.equal(r.code, 0, 'restore --all leaves sales that exist alone without failing')
    t.match(r.out, /sale rs: exists in Redis/)

    await waitFor('the node to see the restored sale', async () => {
      const s = await node.http.request('GET', '/api/v1/sales/rs')
      return s.status === 200
    })
    const restored = await node.http.request('GET', '/api/v1/sales/rs')
    t.match(
      restored.json,
      { stock: 10, sold: 6, remaining: 4, perUserLimit: 2, state: 'scheduled' },
      'same stock and sold as before, and not open',
    )
    const early = await node.http.request('POST', '/api/v1/sales/rs/orders', { userId: 'zed' })
    t.equal(early.status, 409, 'a buyer is refused before the operator starts it')
    t.equal(early.json.error, 'not_started', 'with not_started')

    r = cli(d, 'reconcile')
    t.equal(r.code, 0, `PostgreSQL and the rebuilt Redis agree\n${r.out}`)
    t.match(r.out, /sale rs: no drift/, 'reconcile says no drift')

    const started = await node.admin('POST', '/api/v1/sales/rs/start')
    t.equal(started.status, 200, 'the operator starts it')
    t.equal(started.json.state, 'open', 'and it is open')

    const nodeBuy = (userId: string, quantity = 1, key?: string) =>
      node.http.request(
        'POST',
        '/api/v1/sales/rs/orders',
        { userId, quantity },
        key ? { 'idempotency-key': key } : {},
      )
    for (const user of ['alice', 'erin']) {
      const again = await nodeBuy(user)
      t.equal(again.status, 409, `${user}, at the limit, is refused`)
      t.equal(again.json.error, 'limit_exceeded', 'with limit_exceeded')
    }
    for (const [user, qty, key, first] of [
      ['alice', 2, 'key-alice', alice],
      ['bob', 1, 'key-bob', bob],
      ['carol', 1, 'key-carol', carol],
    ] as const) {
      const replay = await nodeBuy(user, qty, key)
      t.equal(replay.status, 200, `${user}'s Idempotency-Key replayed: 200`)
      t.equal(replay.json.orderId, first.json.orderId, 'the original order, not a second one')
    }

    const paid = await node.http.request('POST', `/api/v1/orders/${dave.json.orderId}/pay`)
    t.equal(paid.status, 200, 'a reserved order can still be paid')
    t.equal(paid.json.status, 'paid', 'and is paid')
    const gone = await node.http.request('POST', `/api/v1/orders/${carol.json.orderId}/pay`)
    t.equal(gone.status, 409, 'a cancelled order stays cancelled')

    // Sell the rest: 4 units left for 30 buyers (carol may buy again: she holds nothing).
    const rush = await pool(30, 10, (i) => nodeBuy(i === 0 ? 'carol' : `late${i}`))
    const won = rush.filter((x) => x.status === 201)
    t.equal(won.length, 4, 'exactly the 4 units left are sold')
    t.ok(
      rush.every((x) => x.status === 201 || x.json?.error === 'sold_out'),
      'everyone else hears sold_out',
    )

    await waitFor('PostgreSQL to hold every order and the stream to drain', async () => {
      const rows = await ordersOf(node.pg.pool, 'rs')
      return rows.length === 9 && (await node.state('rs')).streamLength === 0
    })
    const rows = await ordersOf(node.pg.pool, 'rs')
    const live = rows.filter((o) => o.status === 'reserved' || o.status === 'paid')
    t.equal(
      live.reduce((n, o) => n + o.quantity, 0),
      10,
      'reserved and paid units in PostgreSQL: exactly the stock of 10, never more',
    )
    t.equal((await node.state('rs')).sold, 10, 'and Redis says sold 10')

    r = cli(d, 'reconcile')
    t.equal(r.code, 0, `reconcile after the sale: exit 0\n${r.out}`)

    r = cli(d, 'restore', '--sale', 'rs', '--merge')
    t.equal(r.code, 0, 'a merge into the sale it rebuilt adds nothing')
    t.match(r.out, /0 added, 0 moved out of reserved, 9 kept as Redis had them/)
    t.equal((await node.state('rs')).sold, 10, 'sold is unchanged')
    t.same(
      await redis.client.zrange(finalKey, 0, -1, 'WITHSCORES'),
      listed,
      "and carol's listing is as the restore left it",
    )
  },
)

t.test('restore refuses a sale PostgreSQL has no definition of', async (t) => {
  const redis = await ownRedis(t)
  const srv = await startServer(t, { workers: 1, redisUrl: redis.url })
  const d: Deployment = { redisUrl: redis.url, prefix: srv.prefix, schema: srv.pg.schema }
  const r = cli(d, 'restore', '--sale', 'nosuch')
  t.equal(r.code, 1, 'exit 1')
  t.match(
    r.out,
    /sale nosuch: PostgreSQL has no definition of it \(table sales\) and no orders/,
    'saying PostgreSQL has no definition of it',
  )
  t.equal(await redis.client.dbsize(), 0, 'and writes nothing to Redis')
  const usage = cli(d, 'restore')
  t.equal(usage.code, 2, 'neither --sale nor --all: a usage error')
  t.match(usage.out, /seckill restore \(--sale ID\.\.\. \| --all\)/, 'with the usage')
})
