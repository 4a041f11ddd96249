import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { Pool } from 'undici'
import { startNginxOver, workerViews } from '../../bench/harness/fleet'
import { saleKeys, WRITER_GROUP } from '../../src/store/keys'
import { pool } from '../helpers/http'
import { ownRedis } from '../helpers/own-redis'
import { freshSchema, type TestPg, waitFor } from '../helpers/pg'
import { CLI, freePort, type Server, startServer, type Teardown } from '../helpers/server'
import { missing } from '../helpers/tools'

/**
 * A fleet on this machine: three nodes (separate primaries, one worker each) on their own ports,
 * sharing one Redis key prefix and one PostgreSQL schema, behind the shipped nginx with equal
 * weights. What a node keeps (quota, sold-out flags, its writer's pending entries) must never
 * make another oversell, undersell or lose an order.
 */

/** A node's orders left pending at its death wait this long (WRITER_CLAIM_IDLE_MS, here). */
const CLAIM_IDLE_MS = 2000

interface Fleet {
  readonly nodes: Server[]
  readonly ports: number[]
  readonly runDir: string
  readonly pg: TestPg
  readonly prefix: string
  /** nginx in front of every node: an undici pool, the load of these tests */
  readonly front: Pool
}

async function startFleet(
  t: Teardown,
  size: number,
  env: (i: number) => Record<string, string> = () => ({}),
): Promise<Fleet> {
  const runDir = mkdtempSync(join(tmpdir(), 'seckill-fleet-'))
  t.teardown(() => rmSync(runDir, { recursive: true, force: true }))
  const pg = freshSchema(t)
  const prefix = `t:fleet${process.pid}.${Math.random().toString(36).slice(2, 8)}:`
  const ports: number[] = []
  const nodes: Server[] = []
  for (let i = 0; i < size; i++) {
    const port = await freePort()
    ports.push(port)
    nodes.push(await startNode(t, { port, prefix, pg, runDir }, env(i)))
  }
  const front = new Pool(`http://127.0.0.1:${await startNginxOver(t, ports)}`, { connections: 50 })
  t.teardown(() => front.close())
  return { nodes, ports, runDir, pg, prefix, front }
}

function startNode(
  t: Teardown,
  f: { port: number; prefix: string; pg: TestPg; runDir: string },
  env: Record<string, string> = {},
): Promise<Server> {
  return startServer(t, {
    port: f.port,
    prefix: f.prefix,
    pg: f.pg,
    workers: 1,
    env: { RUN_DIR: f.runDir, WRITER_CLAIM_IDLE_MS: String(CLAIM_IDLE_MS), ...env },
  })
}

/** One purchase through nginx: its status and, for a 201, the order id (status 0: no answer). */
async function buy(front: Pool, saleId: string, userId: string) {
  try {
    const r = await front.request({
      method: 'POST',
      path: `/api/v1/sales/${saleId}/orders`,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId }),
    })
    const text = await r.body.text()
    const json = text.startsWith('{') ? JSON.parse(text) : null
    return {
      status: r.statusCode,
      error: json?.error as string | undefined,
      orderId: json?.orderId,
    }
  } catch {
    return { status: 0, error: undefined, orderId: undefined }
  }
}

/** PostgreSQL's orders of a sale: count, distinct ids, and the users holding more than `limit`. */
async function pgOrders(pg: TestPg, saleId: string, limit = 1) {
  const rows = (
    await pg.pool.query<{ order_id: string; user_id: string; quantity: number; status: string }>(
      'SELECT order_id, user_id, quantity, status FROM orders WHERE sale_id = $1',
      [saleId],
    )
  ).rows
  const held = new Map<string, number>()
  for (const r of rows) held.set(r.user_id, (held.get(r.user_id) ?? 0) + r.quantity)
  return {
    ids: new Set(rows.map((r) => r.order_id)),
    rows: rows.length,
    overLimit: [...held].filter(([, n]) => n > limit),
  }
}

/** Count of PostgreSQL rows of a sale. */
async function pgCount(pg: TestPg, saleId: string): Promise<number> {
  const r = await pg.pool.query<{ n: string }>(
    'SELECT count(*) AS n FROM orders WHERE sale_id = $1',
    [saleId],
  )
  return Number(r.rows[0]?.n)
}

const skip = missing('nginx')

t.test(
  'three nodes behind nginx sell a sale of 3,000 to 6,000 buyers: exactly 3,000 orders, each once',
  { skip },
  async (t) => {
    const f = await startFleet(t, 3)
    const [a] = f.nodes
    await a!.sale('fleet', { stock: 3000, perUserLimit: 1 })
    const answers: Record<string, number> = {}
    const told = new Set<string>()
    // 30,000 attempts, five per buyer, each buyer's five sent together: nginx spreads them over
    // the nodes, which must not let one buyer past the limit between them.
    await pool(30_000, 50, async (i) => {
      const r = await buy(f.front, 'fleet', `u${Math.floor(i / 5)}`)
      const key = `${r.status} ${r.error ?? ''}`.trim()
      answers[key] = (answers[key] ?? 0) + 1
      if (r.status === 201) told.add(r.orderId)
    })
    t.equal(
      told.size,
      3000,
      `3,000 buyers were told they have an order (answers: ${JSON.stringify(answers)})`,
    )
    t.same(
      Object.keys(answers).sort(),
      ['201', '409 limit_exceeded', '409 sold_out'],
      'every other answer is a refusal the sale explains: sold out, or over the limit',
    )

    await waitFor('every order in PostgreSQL', async () => (await pgCount(f.pg, 'fleet')) >= 3000)
    const pg = await pgOrders(f.pg, 'fleet')
    t.equal(pg.rows, 3000, 'PostgreSQL holds exactly 3,000 orders')
    t.equal(pg.ids.size, 3000, 'each once')
    t.ok(
      [...told].every((id) => pg.ids.has(id)),
      'every order a buyer was told about is there',
    )
    t.same(pg.overLimit, [], 'no buyer holds more than the limit of 1, across the nodes')
    for (const [i, node] of f.nodes.entries()) {
      const sale = (await node.http.request('GET', '/api/v1/sales/fleet')).json
      t.equal(sale.sold, 3000, `node ${i}'s API says 3,000 sold, as PostgreSQL`)
    }
    const sold = await Promise.all(f.nodes.map((n) => soldBy(n)))
    t.ok(
      sold.every((n) => n > 0),
      `every node sold part of the stock (${sold.join(', ')} orders answered)`,
    )

    // The sold-out sale gets 100 more units on node 2 while buyers keep asking on every node.
    const more = new Set<string>()
    let asking = true
    let next = 0
    const buyers = Array.from({ length: 30 }, async () => {
      while (asking) {
        const r = await buy(f.front, 'fleet', `v${next++}`)
        if (r.status === 201) more.add(r.orderId)
      }
    })
    await new Promise((r) => setTimeout(r, 200))
    const topUp = await f.nodes[2]!.admin('POST', '/api/v1/sales/fleet/stock', { add: 100 })
    t.equal(topUp.status, 200, 'the top-up is accepted')
    t.equal(topUp.json?.stock, 3100, 'and answers the new stock')
    await waitFor('the 100 new units sold', async () => more.size >= 100, 20_000)
    await new Promise((r) => setTimeout(r, 300))
    asking = false
    await Promise.all(buyers)
    t.equal(more.size, 100, 'exactly 100 more buyers were told they have an order')
    await waitFor('every order in PostgreSQL', async () => (await pgCount(f.pg, 'fleet')) >= 3100)
    const after = await pgOrders(f.pg, 'fleet')
    t.equal(after.rows, 3100, 'PostgreSQL holds exactly 100 more orders: no oversell')
    t.ok(
      [...more].every((id) => after.ids.has(id)),
      'each of them',
    )
    t.equal(Number(await a!.redis.hget(saleKeys(f.prefix, 'fleet').sale, 'sold')), 3100)
  },
)

/** Orders a node's workers answered 201 for, from its /metrics. */
async function soldBy(node: Server): Promise<number> {
  const text = (await node.http.request('GET', '/metrics')).text
  const m = /^seckill_purchase_answers_total\{outcome="reserved",decided_by="redis"\} (\d+)/m.exec(
    text,
  )
  return Number(m?.[1] ?? 0)
}

t.test(
  'a node killed with kill -9 a third into a sale: the others sell every unit, and its orders reach PostgreSQL once',
  { skip },
  async (t) => {
    // Node 1's primary kills itself (SIGKILL) right after its order writer has read entries,
    // once it has read 300 (about a third of the stock, with three writers sharing the stream):
    // it dies holding orders it read and did not write, the worst moment for them.
    const crash: Record<string, string> = {
      SECKILL_CRASH_AT: 'after-read',
      SECKILL_CRASH_AFTER: '300',
    }
    const f = await startFleet(t, 3, (i) => (i === 1 ? crash : {}))
    const [a, b] = f.nodes as [Server, Server, Server]
    const bWorkers = b.workers()
    const consumerB = `${hostname()}:${b.port}`
    await a.sale('loss', { stock: 3000, perUserLimit: 1 })
    const k = saleKeys(f.prefix, 'loss')

    let diedAt: { sold: number; pending: number } | null = null
    const watchDeath = new Promise<void>((resolve) => {
      b.proc.once('exit', async () => {
        // kill -9 of the rest of the node: its workers.
        for (const pid of bWorkers) {
          try {
            process.kill(pid, 'SIGKILL')
          } catch {}
        }
        const [sold, pending] = await Promise.all([
          a.redis.hget(k.sale, 'sold'),
          a.redis.xpending(k.stream, WRITER_GROUP, '-', '+', 10_000, consumerB),
        ])
        diedAt = { sold: Number(sold), pending: (pending as unknown[]).length }
        resolve()
      })
    })

    const told = new Set<string>()
    const answers: Record<string, number> = {}
    let user = 0
    const t0 = Date.now()
    // Buyers keep asking through nginx until the sale is sold out (or 60 s pass).
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (Date.now() - t0 < 60_000) {
          const r = await buy(f.front, 'loss', `b${user++}`)
          const key = `${r.status} ${r.error ?? ''}`.trim()
          answers[key] = (answers[key] ?? 0) + 1
          if (r.status === 201) told.add(r.orderId)
          if (r.error === 'sold_out' && Number(await a.redis.hget(k.sale, 'sold')) >= 3000) return
        }
      }),
    )
    await watchDeath
    const death = diedAt as { sold: number; pending: number } | null
    t.ok(death !== null, 'node 1 died during the sale')
    t.ok(
      death!.sold > 0 && death!.sold < 3000,
      `it died mid-sale, with ${death!.sold} of 3,000 sold`,
    )
    t.ok(death!.pending > 0, `holding ${death!.pending} entries it had read and not written`)
    t.equal(Number(await a.redis.hget(k.sale, 'sold')), 3000, 'every unit was sold (no undersell)')
    t.ok(answers['201']! > 0, `answers: ${JSON.stringify(answers)}`)

    const claimed = Date.now()
    await waitFor(
      'every order in PostgreSQL',
      async () => (await pgCount(f.pg, 'loss')) >= 3000,
      CLAIM_IDLE_MS + 10_000,
    )
    t.ok(Date.now() - claimed <= CLAIM_IDLE_MS + 5000, 'within the claim time and a write')
    const pg = await pgOrders(f.pg, 'loss')
    const redisIds = new Set(await a.redis.hkeys(k.orders))
    t.equal(pg.rows, 3000, 'PostgreSQL holds 3,000 orders: none extra')
    t.same([...pg.ids].sort(), [...redisIds].sort(), 'exactly the orders Redis made, each once')
    t.ok(
      [...told].every((id) => pg.ids.has(id)),
      'every order a buyer was told about is there',
    )
    t.same(pg.overLimit, [], 'no buyer over the limit')
    const left = await a.redis.xpending(k.stream, WRITER_GROUP, '-', '+', 10, consumerB)
    t.same(left, [], "the dead node's pending entries were taken over by a live node")

    // The node comes back under the same name (its port) and serves.
    const again = await startNode(t, { port: b.port, prefix: f.prefix, pg: f.pg, runDir: f.runDir })
    const sale = (await again.http.request('GET', '/api/v1/sales/loss')).json
    t.equal(sale.state, 'sold_out', 'the restarted node serves, and knows the sale is sold out')
    await again.sale('after', { stock: 5 })
    const r = await again.http.request('POST', '/api/v1/sales/after/orders', { userId: 'z' })
    t.equal(r.status, 201, 'and sells')
  },
)

t.test(
  'a start, a top-up and a close made on one node reach every worker of every node, and so does a sold-out',
  { skip },
  async (t) => {
    const f = await startFleet(t, 3)
    const [a] = f.nodes as [Server, Server, Server]
    const delays: number[] = []
    /** Make a change on node 0 and wait until every worker of every node shows `state`. */
    async function change(
      saleId: string,
      path: string,
      body: unknown,
      state: string,
      stock: number,
    ) {
      const t0 = Date.now()
      const r = await a.admin('POST', `/api/v1/sales/${saleId}/${path}`, body)
      t.equal(r.status, 200, `${path} ${saleId}: 200`)
      let since = 0
      await waitFor(
        `every worker sees ${saleId} ${state}`,
        async () => {
          since = 0
          for (const port of f.ports) {
            for (const w of await workerViews(f.runDir, port, saleId)) {
              if (w.view?.state !== state || w.view.stock !== stock) return false
              since = Math.max(since, w.view.sinceMs)
            }
          }
          return true
        },
        5000,
      )
      delays.push(since - t0)
    }
    for (let i = 0; i < 3; i++) {
      const id = `p${i}`
      await a.sale(id, { stock: 10 }, false)
      await change(id, 'start', undefined, 'open', 10)
      await change(id, 'stock', { add: 5 }, 'open', 15)
      await change(id, 'close', undefined, 'closed', 15)
    }
    t.ok(
      delays.every((d) => d >= 0 && d < 1000),
      `every change reached every worker of the three nodes well within a second (ms: ${delays.join(', ')})`,
    )

    // Sold out on node 0: the other nodes' workers refuse at once, without asking Redis.
    await a.sale('out', { stock: 20 })
    for (let i = 0; i < 20; i++) {
      const r = await a.http.request('POST', '/api/v1/sales/out/orders', { userId: `o${i}` })
      t.equal(r.status, 201, `buyer ${i} on node 0 gets a unit`)
    }
    const lastSale = Date.now()
    await waitFor(
      'every worker of every node sees the sale sold out',
      async () => {
        for (const port of f.ports.slice(1)) {
          for (const w of await workerViews(f.runDir, port, 'out')) {
            if (w.view?.state !== 'sold_out') return false
          }
        }
        return true
      },
      2000,
    )
    t.ok(Date.now() - lastSale < 2000, 'the other nodes heard of the sell-out')
    const cli = spawnSync(process.execPath, [CLI, 'status', '--sale', 'out'], {
      env: { ...process.env, RUN_DIR: f.runDir, PORT: String(f.ports[1]) },
      encoding: 'utf8',
    })
    t.equal(cli.status, 0, '`seckill status --sale out` asks node 1')
    t.match(
      cli.stdout,
      /^0\s+\d+\s+sold_out\s+20\s+20\s/m,
      'and shows its worker refusing: sold out',
    )
    for (const node of f.nodes.slice(1)) {
      const before = await forwarded(node)
      const r = await node.http.request('POST', '/api/v1/sales/out/orders', { userId: 'late' })
      t.equal(r.json?.error, 'sold_out', `node ${node.port} refuses a late buyer`)
      t.equal(await forwarded(node), before, 'without asking Redis')
    }
  },
)

/** Purchase answers a node's workers got from Redis (the attempts they forwarded). */
async function forwarded(node: Server): Promise<number> {
  const text = (await node.http.request('GET', '/metrics')).text
  let n = 0
  for (const m of text.matchAll(
    /^seckill_purchase_answers_total\{[^}]*decided_by="redis"\} (\d+)/gm,
  ))
    n += Number(m[1])
  return n
}

t.test(
  'a node whose bell was cut off while a sale started elsewhere reads it as soon as it is back',
  async (t) => {
    // A Redis of the test's own: it is told to refuse new connections for a while.
    const own = await ownRedis(t)
    const runDir = mkdtempSync(join(tmpdir(), 'seckill-fleet-'))
    t.teardown(() => rmSync(runDir, { recursive: true, force: true }))
    const pg = freshSchema(t)
    const prefix = 'bellcut:'
    const f = { prefix, pg, runDir }
    const a = await startServer(t, {
      ...f,
      port: await freePort(),
      redisUrl: own.url,
      workers: 1,
      env: { RUN_DIR: runDir },
    })
    const b = await startServer(t, {
      ...f,
      port: await freePort(),
      redisUrl: own.url,
      workers: 1,
      env: { RUN_DIR: runDir },
    })
    await a.sale('late', { stock: 10 }, false)
    await waitFor('node 1 has the sale', async () => {
      const [w] = await workerViews(runDir, b.port, 'late')
      return w?.view?.state === 'not_started'
    })

    // Node 1's bell goes, and cannot come back (no new connection is accepted) while node 0
    // starts the sale: the start's message reaches no one on node 1.
    const clients = String(await own.client.call('CLIENT', 'LIST', 'TYPE', 'pubsub'))
    const bell = [...clients.matchAll(/^id=(\d+) .* name=seckill-bell-(\d+) /gm)].find(
      ([, , pid]) => Number(pid) === b.proc.pid,
    )
    t.ok(bell, "node 1's bell has its named connection")
    const connected = Number(/connected_clients:(\d+)/.exec(await own.client.info('clients'))?.[1])
    await own.client.config('SET', 'maxclients', String(connected - 1))
    await own.client.client('KILL', 'ID', bell![1]!)
    const started = await a.admin('POST', '/api/v1/sales/late/start')
    t.equal(started.status, 200, 'node 0 starts the sale')
    await new Promise((r) => setTimeout(r, 500))
    const [stale] = await workerViews(runDir, b.port, 'late')
    t.equal(stale?.view?.state, 'not_started', 'node 1 did not hear of it')

    await own.client.config('SET', 'maxclients', '10000')
    const back = Date.now()
    await waitFor(
      'node 1 sells the sale',
      async () => {
        const [w] = await workerViews(runDir, b.port, 'late')
        return w?.view?.state === 'open'
      },
      5000,
    )
    t.ok(
      Date.now() - back < 3000,
      'its bell reconnected and it re-read every sale (not after SALE_RESYNC_MS, 30 s)',
    )
    const r = await b.http.request('POST', '/api/v1/sales/late/orders', { userId: 'u1' })
    t.equal(r.status, 201, 'node 1 sells')
  },
)
