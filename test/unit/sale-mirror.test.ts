import type { Pool } from 'pg'
import t from 'tap'
import { SaleMirror } from '../../cluster/sale-mirror'
import { log } from '../../src/log'
import type { SaleRecord } from '../../src/sale/sale-record'

/**
 * SaleMirror against a fake pool that records every statement's parameters and fails on demand:
 * the copy of the sales in PostgreSQL is kept off the purchase path, survives an outage, and
 * says so once.
 */

const SALE: SaleRecord = {
  id: 's',
  name: 'Phone',
  stock: 10,
  sold: 0,
  perUserLimit: 2,
  startsAt: null,
  endsAt: null,
  paymentTtlSeconds: 300,
  started: false,
  closed: false,
  returned: 0,
  createdAt: 1_700_000_000_000,
}

interface FakePool {
  readonly pool: Pool
  /** parameters of every upsert that reached "PostgreSQL", in order */
  readonly written: unknown[][]
  /** the error the next queries throw; null: they succeed */
  fail: Error | null
  attempts: number
}

function fakePool(): FakePool {
  const fake: FakePool = {
    written: [],
    fail: null,
    attempts: 0,
    pool: {
      query: async (_sql: string, params: unknown[]) => {
        fake.attempts++
        // A real query answers on a later turn of the event loop.
        await new Promise((r) => setImmediate(r))
        if (fake.fail) throw fake.fail
        fake.written.push(params)
        return { rowCount: 1 }
      },
    } as unknown as Pool,
  }
  return fake
}

const settle = (ms = 30) => new Promise((r) => setTimeout(r, ms))

t.test('offers return at once and each new or changed definition is upserted once', async (t) => {
  const pg = fakePool()
  const mirror = new SaleMirror(pg.pool, 10)
  t.teardown(() => mirror.stop())
  mirror.offer(SALE)
  t.equal(pg.written.length, 0, 'offer does not wait for PostgreSQL')
  await settle()
  t.equal(pg.written.length, 1, 'the new sale is written')
  t.same(pg.written[0]!.slice(0, 4), ['s', 'Phone', 10, 2], 'with its definition')

  mirror.offer({ ...SALE, sold: 5, returned: 1 })
  await settle()
  t.equal(pg.written.length, 1, 'purchases (sold, returned) are no change of the definition')

  mirror.offer({ ...SALE, sold: 6, started: true })
  mirror.offer({ ...SALE, sold: 7, started: true, closed: true })
  await settle()
  const last = pg.written.at(-1)!
  t.same([last[7], last[8]], [true, true], 'the newest copy is what ends in PostgreSQL')
})

t.test('an outage is logged once, retried, and its end logged once', async (t) => {
  const pg = fakePool()
  const warnings = t.capture(log, 'warn')
  const infos = t.capture(log, 'info')
  const mirror = new SaleMirror(pg.pool, 10)
  t.teardown(() => mirror.stop())
  pg.fail = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })
  mirror.offer(SALE)
  await settle(80)
  t.ok(pg.attempts >= 3, `retried while PostgreSQL is down (${pg.attempts} attempts)`)
  t.equal(warnings().length, 1, 'one warning for the whole outage')
  mirror.offer({ ...SALE, started: true })
  pg.fail = null
  // A retry of the older copy may be on its way when PostgreSQL comes back (it then lands
  // first): what matters is that the newest copy lands last. Waited for, not slept on: the
  // machine may be busy.
  for (let i = 0; i < 400 && pg.written.at(-1)?.[7] !== true; i++) await settle(5)
  t.ok(pg.written.length >= 1 && pg.written.length <= 2, 'written once it is back (twice at most)')
  t.equal(pg.written.at(-1)![7], true, 'the newest copy, offered during the outage, lands last')
  await settle()
  t.equal(infos().length, 1, 'and one line saying the copies flow again')
})

t.test('a definition PostgreSQL refuses for its data is not retried', async (t) => {
  const pg = fakePool()
  const errors = t.capture(log, 'error')
  const mirror = new SaleMirror(pg.pool, 10)
  t.teardown(() => mirror.stop())
  pg.fail = Object.assign(new Error('invalid byte sequence'), { code: '22021' })
  mirror.offer({ ...SALE, name: 'bad\u0000name' })
  await settle(60)
  t.equal(pg.attempts, 1, 'tried once')
  t.equal(errors().length, 1, 'and logged at error level')
  pg.fail = null
  mirror.offer({ ...SALE, name: 'good' })
  await settle()
  t.equal(pg.written.length, 1, 'the next change of the sale is written')
})

t.test('stop ends the retries', async (t) => {
  const pg = fakePool()
  t.capture(log, 'warn')
  const mirror = new SaleMirror(pg.pool, 10)
  pg.fail = new Error('down')
  mirror.offer(SALE)
  await settle(15)
  await mirror.stop()
  const attempts = pg.attempts
  await settle(50)
  t.equal(pg.attempts, attempts, 'no attempt after stop')
})
