import type { Pool } from 'pg'
import t from 'tap'
import { migrate } from '../../src/db/migrations'
import { type EntryValues, type OrderRecord, orderEntry } from '../../src/orders/order-record'
import { PgSide, type TableWrite } from '../../src/orders/writer/pg-side'
import { StreamSide } from '../../src/orders/writer/stream-side'
import type { WriteResult } from '../../src/orders/writer/write-job'
import { OrderWriter } from '../../src/orders/writer/write-step'
import { saleKeys, WRITER_GROUP } from '../../src/store/keys'
import { freshSchema, ordersOf, type Teardown } from '../helpers/pg'
import { freshPrefix, openRedis } from '../helpers/redis'

/**
 * A write step draining new entries (write-step.ts with read-ahead.ts), in this process against
 * the real Redis and PostgreSQL: it reads on while it writes, writes everything it read, and on a
 * failure leaves every entry it did not ack pending for the next step; a refused row stays
 * pending (or goes to the dead letters) without holding back the rows around it.
 */

const redis = openRedis(t)
const BATCH = 100

function entry(n: number, change: Partial<EntryValues> = {}): string[] {
  return orderEntry({
    orderId: `s1.${String(n).padStart(6, '0')}`,
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

/** A PgSide whose `n`th write (from 1) fails as PostgreSQL going away would. */
class FailingOnce extends PgSide {
  private calls = 0
  constructor(
    pg: Pool,
    private readonly failAt: number,
  ) {
    super(pg, null, 1)
  }

  override async write(orders: readonly OrderRecord[]): Promise<TableWrite> {
    if (++this.calls === this.failAt) return { error: 'Connection terminated unexpectedly' }
    return super.write(orders)
  }
}

async function setUp(t: Teardown, entries: string[][], failAt = 0) {
  const prefix = freshPrefix(t, redis)
  const { pool, schema } = freshSchema(t)
  await migrate(pool, schema)
  const k = saleKeys(prefix, 's1')
  for (let i = 0; i < entries.length; i += 500) {
    const pipe = redis.pipeline()
    for (const e of entries.slice(i, i + 500)) pipe.xadd(k.stream, '*', ...e)
    await pipe.exec()
  }
  const stream = new StreamSide(redis, {
    prefix,
    batch: BATCH,
    claimIdleMs: 60_000,
    maxDeliveries: 2,
  })
  // Every transaction by COPY, whatever its size (COPY_FROM_ROWS would send the small ones of
  // this test by the unnest statement).
  const table = failAt > 0 ? new FailingOnce(pool, failAt) : new PgSide(pool, null, 1)
  return { pool, k, stream, writer: new OrderWriter(stream, table) }
}

/** Steps from `from` until one reads nothing more; every result. */
async function steps(w: OrderWriter, from: 'new' | 'pending'): Promise<WriteResult[]> {
  const out: WriteResult[] = []
  for (;;) {
    const r = await w.step({ saleId: 's1', consumer: 'c1', from })
    out.push(r)
    if (r.error !== null || r.read === 0 || (from === 'new' && !r.more)) return out
  }
}

async function pendingCount(stream: string): Promise<number> {
  return ((await redis.xpending(stream, WRITER_GROUP)) as [number])[0]
}

const sum = (rs: WriteResult[], f: (r: WriteResult) => number) => rs.reduce((a, r) => a + f(r), 0)

t.test('a backlog of many batches is read ahead and written, each entry once', async (t) => {
  const n = 2_345
  const { pool, k, writer } = await setUp(
    t,
    Array.from({ length: n }, (_, i) => entry(i)),
  )
  const rs = await steps(writer, 'new')
  t.ok(
    (rs[0]?.read ?? 0) > BATCH,
    `the first step read past its first batch (${rs[0]?.read} entries)`,
  )
  t.ok(rs.length < n / BATCH, `${rs.length} steps for ${Math.ceil(n / BATCH)} batches`)
  t.equal(
    sum(rs, (r) => r.read),
    n,
    'every entry read once',
  )
  t.equal(
    sum(rs, (r) => r.written),
    n,
    'and written once',
  )
  t.notOk(rs.at(-1)?.more, 'the last step says the stream is drained')
  t.equal(rs.at(-1)?.backlog, 0, 'which its measure agrees with')
  t.equal((await ordersOf(pool, 's1')).length, n, 'PostgreSQL holds every order')
  t.equal(await redis.xlen(k.stream), 0, 'the stream is empty')
  t.equal(await pendingCount(k.stream), 0, 'nothing is pending')
})

t.test(
  'a row PostgreSQL refuses mid-drain stays pending, then goes to the dead letters',
  async (t) => {
    const n = 1_000
    // Entry 400 reuses entry 10's user and key: the live-key index refuses it (23505).
    const key = { userId: 'u10', idempotencyKey: 'k-10' }
    const { pool, k, writer } = await setUp(
      t,
      Array.from({ length: n }, (_, i) => entry(i, i === 10 || i === 400 ? key : {})),
    )
    const rs = await steps(writer, 'new')
    t.equal(
      sum(rs, (r) => r.written),
      n - 1,
      'every other row is written',
    )
    t.equal(
      sum(rs, (r) => r.leftPending),
      1,
      'the refused one is left pending',
    )
    t.equal(await pendingCount(k.stream), 1)
    t.equal(await redis.xlen(k.stream), 1, 'and is the only entry left in the stream')
    // WRITER_MAX_DELIVERIES 2 here: its second delivery is its last.
    const again = await writer.step({ saleId: 's1', consumer: 'c1', from: 'pending' })
    t.match(again, { read: 1, written: 0, deadLettered: 1, leftPending: 0, error: null })
    t.equal(await redis.xlen(k.stream), 0, 'the stream is empty')
    const dead = await redis.xrange(k.dead, '-', '+')
    t.equal(dead.length, 1, 'the refused entry is in the dead-letter stream')
    t.match(dead[0]?.[1].join(' '), /orders_live_idempotency_key.*orderId s1\.000400/)
    t.equal((await ordersOf(pool, 's1')).length, n - 1)
  },
)

t.test(
  'PostgreSQL failing mid-drain leaves every entry not acked pending, and none is lost',
  async (t) => {
    const n = 3_000
    // The second transaction fails: the first is committed (and acked, or not yet), the ones
    // read ahead are pending with the consumer.
    const { pool, k, writer } = await setUp(
      t,
      Array.from({ length: n }, (_, i) => entry(i)),
      2,
    )
    const failed = await writer.step({ saleId: 's1', consumer: 'c1', from: 'new' })
    t.match(failed, { error: /Connection terminated/, more: false })
    const inPg = (await ordersOf(pool, 's1')).length
    t.ok(inPg > 0 && inPg < n, `the first transaction is committed (${inPg} rows), no more`)
    const pending = await pendingCount(k.stream)
    t.equal(await redis.xlen(k.stream), n - failed.written, 'only acked entries left the stream')
    t.ok(pending > 0, `${pending} entries wait in the pending list`)
    // What the loop does next: the pending entries first, then new ones.
    const rs = [...(await steps(writer, 'pending')), ...(await steps(writer, 'new'))]
    t.notOk(
      rs.some((r) => r.error !== null),
      'the next steps succeed',
    )
    const rows = await ordersOf(pool, 's1')
    t.equal(rows.length, n, 'every order is in PostgreSQL')
    t.equal(new Set(rows.map((r) => r.order_id)).size, n, 'each once')
    t.equal(await redis.xlen(k.stream), 0, 'the stream is empty')
    t.equal(await pendingCount(k.stream), 0, 'nothing is pending')
  },
)

t.test('an entry no delivery can write is dead-lettered mid-drain at once', async (t) => {
  const n = 500
  const { pool, k, writer } = await setUp(
    t,
    Array.from({ length: n }, (_, i) => entry(i, i === 250 ? { quantity: 0 } : {})),
  )
  const rs = await steps(writer, 'new')
  t.equal(
    sum(rs, (r) => r.deadLettered),
    1,
  )
  t.equal(
    sum(rs, (r) => r.written),
    n - 1,
  )
  t.equal(await redis.xlen(k.stream), 0)
  t.equal(await redis.xlen(k.dead), 1)
  t.equal((await ordersOf(pool, 's1')).length, n - 1)
})
