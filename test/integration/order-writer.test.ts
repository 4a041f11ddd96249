import t from 'tap'
import { alive } from '../../src/control/run-files'
import { orderEntry } from '../../src/orders/order-record'
import { saleKeys, WRITER_GROUP } from '../../src/store/keys'
import { pool } from '../helpers/http'
import { freshSchema, ordersOf, waitFor } from '../helpers/pg'
import { childPids, type Server, startServer } from '../helpers/server'

/**
 * The order writer under crashes: the primary (which runs the writer on its Piscina pool) kills
 * itself with SIGKILL at a chosen step (SECKILL_CRASH_AT), its workers go with it, and a restart
 * on the same Redis prefix and PostgreSQL schema must leave every order in PostgreSQL exactly once
 * with nothing pending. Also: a poison entry goes to the dead-letter stream without holding back
 * the others.
 */

async function pendingCount(srv: Server, saleId: string): Promise<number> {
  const summary = (await srv.redis.xpending(saleKeys(srv.prefix, saleId).stream, WRITER_GROUP)) as [
    number,
    ...unknown[],
  ]
  return summary[0]
}

const cases = [
  {
    at: 'after-read',
    name: 'same',
    nothingInPg: true,
    why: 'read, nothing written: the entries wait in its pending list',
  },
  {
    at: 'after-insert',
    name: 'same',
    nothingInPg: true,
    why: 'inserted, not committed: PostgreSQL rolls back',
  },
  {
    at: 'after-commit',
    name: 'same',
    nothingInPg: false,
    why: 'committed, not acked: the second write must be a no-op',
  },
  {
    at: 'after-read',
    name: 'other',
    nothingInPg: true,
    why: 'and the restarted node has another name: XAUTOCLAIM takes the dead consumer’s entries',
  },
] as const

for (const c of cases) {
  t.test(
    `a writer killed ${c.at} (${c.why}) loses and duplicates nothing once restarted`,
    async (t) => {
      const pg = freshSchema(t)
      const first = await startServer(t, {
        workers: 2,
        pg,
        env: { SECKILL_CRASH_AT: c.at, WRITER_NAME: 'node-a' },
      })
      const workers = first.workers()
      await first.sale('crash', { stock: 200, perUserLimit: 1 })
      const bought = await pool(120, 20, (i) =>
        first.http.request('POST', '/api/v1/sales/crash/orders', { userId: `u${i}` }),
      )
      await waitFor(
        'the primary to kill itself',
        async () => first.proc.exitCode !== null || first.proc.signalCode !== null,
      )
      t.equal(first.proc.signalCode, 'SIGKILL', `the primary died by SIGKILL ${c.at}`)
      await waitFor('its workers to exit', async () => workers.every((p) => !alive(p)))
      t.pass('its workers exited with it')

      const told = new Set(
        bought.filter((r) => r.status === 201).map((r) => r.json.orderId as string),
      )
      t.ok(told.size > 0, `clients were told ${told.size} orders succeeded before the crash`)
      const inPg = await ordersOf(pg.pool, 'crash')
      if (c.nothingInPg) t.equal(inPg.length, 0, 'PostgreSQL has no order yet')
      else t.ok(inPg.length > 0, `PostgreSQL committed ${inPg.length} orders before the crash`)
      t.ok(
        (await pendingCount(first, 'crash')) > 0,
        'the group has entries pending with the dead writer',
      )

      const second = await startServer(t, {
        workers: 1,
        pg,
        prefix: first.prefix,
        env: {
          WRITER_NAME: c.name === 'same' ? 'node-a' : 'node-b',
          WRITER_CLAIM_IDLE_MS: '500',
        },
      })
      const made = (await second.state('crash')).orders
      await waitFor('every order in PostgreSQL and nothing pending', async () => {
        const rows = await ordersOf(pg.pool, 'crash')
        return rows.length === made && (await pendingCount(second, 'crash')) === 0
      })
      const rows = await ordersOf(pg.pool, 'crash')
      const ids = rows.map((r) => r.order_id)
      t.equal(new Set(ids).size, ids.length, 'each order once (the primary key holds it anyway)')
      t.equal(rows.length, made, `PostgreSQL holds every order Redis made (${made})`)
      t.ok(
        [...told].every((id) => ids.includes(id)),
        'every order a client was told succeeded is there (I4)',
      )
      const hash = await second.redis.hkeys(saleKeys(second.prefix, 'crash').orders)
      t.same(new Set(ids), new Set(hash), 'and no order Redis did not make (I5)')
      t.equal(await pendingCount(second, 'crash'), 0, 'pending list drained to 0')
      await waitFor(
        'the stream to be trimmed',
        async () => (await second.state('crash')).streamLength === 0,
      )
      t.equal(
        (await second.state('crash')).streamLength,
        0,
        'and every written entry left the stream',
      )
      t.same(childPids(second.proc.pid!).length, 1, 'the restarted node serves with its worker')
    },
  )
}

// A backlog (what a PostgreSQL outage leaves) appears at once, in one MULTI with the sale's bell
// rung after it, as the scripts ring it: the writer's first
// read is a full WRITER_BATCH of 2,500, so its first transaction goes by COPY through the
// staging table (COPY_FROM_ROWS is 2,000) while it reads ahead; it is killed in that one.
for (const at of ['after-insert', 'after-commit'] as const) {
  t.test(
    `a writer killed ${at} in a COPY transaction while draining a backlog loses and duplicates nothing once restarted`,
    async (t) => {
      const pg = freshSchema(t)
      const env = { WRITER_NAME: 'node-a', WRITER_BATCH: '2500' }
      const first = await startServer(t, { workers: 1, pg, env: { ...env, SECKILL_CRASH_AT: at } })
      await first.sale('drain', { stock: 100, perUserLimit: 1 })
      const k = saleKeys(first.prefix, 'drain')
      const now = Date.now()
      const n = 7_000
      const m = first.redis.multi()
      for (let i = 0; i < n; i++) {
        m.xadd(
          k.stream,
          '*',
          ...orderEntry({
            orderId: `drain.${String(i).padStart(16, '0')}`,
            userId: `u${i}`,
            quantity: 1,
            createdAt: now,
            expiresAt: now + 300_000,
            idempotencyKey: '',
            status: i % 3 === 0 ? 'paid' : 'reserved',
            paidAt: i % 3 === 0 ? now + 1 : '',
          }),
        )
      }
      // Rung as the scripts ring it when they append: the writer reads the stream then.
      m.publish(k.bell, String(n))
      await m.exec()
      await waitFor(
        'the primary to kill itself',
        async () => first.proc.exitCode !== null || first.proc.signalCode !== null,
      )
      t.equal(first.proc.signalCode, 'SIGKILL', `the primary died by SIGKILL ${at}`)
      const inPg = (await ordersOf(pg.pool, 'drain')).length
      if (at === 'after-insert') t.equal(inPg, 0, 'PostgreSQL rolled the COPY transaction back')
      else t.equal(inPg, 2_500, 'PostgreSQL committed the first read, 2,500 rows')

      const second = await startServer(t, { workers: 1, pg, prefix: first.prefix, env })
      await waitFor('every order in PostgreSQL and nothing pending', async () => {
        const rows = await ordersOf(pg.pool, 'drain')
        return rows.length === n && (await pendingCount(second, 'drain')) === 0
      })
      const rows = await ordersOf(pg.pool, 'drain')
      t.equal(new Set(rows.map((r) => r.order_id)).size, n, `all ${n} orders, each once`)
      t.equal(
        rows.filter((r) => r.status === 'paid').length,
        Math.ceil(n / 3),
        'each in the state its entry gave it',
      )
      await waitFor('the stream to be empty', async () => (await second.redis.xlen(k.stream)) === 0)
      t.pass('every entry left the stream')
    },
  )
}

t.test(
  'an entry PostgreSQL keeps refusing goes to the dead-letter stream after WRITER_MAX_DELIVERIES, and the others are written',
  async (t) => {
    const srv = await startServer(t, {
      workers: 1,
      env: { WRITER_MAX_DELIVERIES: '3' },
    })
    await srv.sale('poison', { stock: 50, perUserLimit: 1 })
    const first = await srv.http.request(
      'POST',
      '/api/v1/sales/poison/orders',
      { userId: 'alice' },
      { 'idempotency-key': 'k1' },
    )
    t.equal(first.status, 201)
    await waitFor(
      'the first order in PostgreSQL',
      async () => (await ordersOf(srv.pg.pool, 'poison')).length === 1,
    )

    const k = saleKeys(srv.prefix, 'poison')
    const now = Date.now()
    const entry = (orderId: string, userId: string, key: string, quantity = '1') =>
      orderEntry({
        orderId,
        userId,
        quantity,
        createdAt: now,
        expiresAt: now + 300_000,
        idempotencyKey: key,
        status: 'reserved',
        paidAt: '',
      })
    // Redis broke I6 (a second order for alice's key): PostgreSQL's unique key refuses it.
    // Written by hand in one MULTI with good orders around it, so they share a batch, and the
    // sale's bell rung as the scripts ring it.
    await srv.redis
      .multi()
      .xadd(k.stream, '*', ...entry('poison.GOOD000000000001', 'bob', ''))
      .xadd(k.stream, '*', ...entry('poison.DUPLICATEKEY0001', 'alice', 'k1'))
      .xadd(k.stream, '*', ...entry('poison.BADQUANTITY00001', 'carol', '', 'many'))
      .xadd(k.stream, '*', ...entry('poison.GOOD000000000002', 'dave', ''))
      .publish(k.bell, '4')
      .exec()

    await waitFor('two dead letters and nothing pending', async () => {
      return (await srv.redis.xlen(k.dead)) === 2 && (await pendingCount(srv, 'poison')) === 0
    })
    const rows = (await ordersOf(srv.pg.pool, 'poison')).map((r) => r.order_id).sort()
    t.same(
      rows,
      [first.json.orderId, 'poison.GOOD000000000001', 'poison.GOOD000000000002'].sort(),
      'the good orders of the batch were written; the two bad ones were not',
    )
    const dead = await srv.redis.xrange(k.dead, '-', '+')
    const fields = dead.map(([, f]) => {
      const o: Record<string, string> = {}
      for (let i = 0; i < f.length; i += 2) o[f[i]!] = f[i + 1]!
      return o
    })
    const byOrder = new Map(fields.map((f) => [f.orderId, f]))
    t.match(
      byOrder.get('poison.DUPLICATEKEY0001'),
      { deliveries: '3', error: /duplicate key/ },
      'the duplicate died after 3 deliveries, with PostgreSQL’s error',
    )
    t.match(
      byOrder.get('poison.BADQUANTITY00001'),
      { error: /quantity "many"/ },
      'the malformed entry died at once, with what is wrong',
    )
    t.equal(await srv.redis.xlen(k.stream), 0, 'the stream holds nothing more to write')
    t.match(srv.output(), /moved to the dead-letter stream/, 'a clear log line says where it went')
    const m = await srv.http.request('GET', '/metrics')
    t.match(m.text, /seckill_dead_letters_total 2\n/, 'and /metrics counts both')

    const later = await srv.http.request('POST', '/api/v1/sales/poison/orders', { userId: 'erin' })
    t.equal(later.status, 201)
    await waitFor('a later order to be written', async () =>
      (await ordersOf(srv.pg.pool, 'poison')).some((r) => r.order_id === later.json.orderId),
    )
    t.pass('orders after the poison are written as usual')
  },
)
