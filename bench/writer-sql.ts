import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import type { Pool } from 'pg'
import { migrate } from '../src/db/migrations'
import { createPool, inTransaction } from '../src/db/pg'
import type { OrderRecord } from '../src/orders/order-record'
import { copyNewOrders, copyUpsertOrders, upsertOrders } from '../src/orders/order-sql'
import { stores } from './harness/store-fixture'

/**
 * The ways the order writer could put a batch into PostgreSQL, side by side in one run: rows/s
 * of each, for new orders and for the same orders written again (the idempotent re-write after
 * a crash between COMMIT and XACK), each batch in its own transaction as the writer commits it.
 * The ways take turns, round after round, and the median is reported: on a machine shared with
 * other work, a slow moment then hurts every way alike, not the one that ran during it.
 *
 *   node dist/bench/writer-sql.js [--rows 50000] [--rounds 3] [--only copy]
 *
 * - unnest: today's statement, nine arrays as parameters (INSERT … SELECT FROM unnest … ON
 *   CONFLICT), unnamed (parsed and planned on every call); "prepared": the same statement named;
 * - copy: COPY (text) into the connection's TEMP staging table, then one INSERT … SELECT … ON
 *   CONFLICT from it;
 * - bare COPY: COPY straight into `orders`, no staging and no conflict handling: the floor, not
 *   a way the writer could use (it fails on a row already there).
 */
const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '50000' },
    rounds: { type: 'string', default: '3' },
    only: { type: 'string', default: '' },
    database: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
  },
})
const ROWS = Number(args.rows)
const ROUNDS = Number(args.rounds)

type Write = (orders: OrderRecord[]) => Promise<unknown>

interface Way {
  readonly name: string
  readonly batch: number
  readonly write: Write
  /** false: writing the same rows again is not possible (bare COPY) */
  readonly again: boolean
  /** transactions in flight at once (each on its own connection) */
  readonly parallel?: number
}

function ordersOf(tag: string, from: number, n: number): OrderRecord[] {
  const now = Date.now()
  const out: OrderRecord[] = []
  for (let i = from; i < from + n; i++) {
    out.push({
      orderId: `${tag}.${String(i).padStart(16, '0')}`,
      saleId: tag,
      userId: '',
      quantity: 1,
      status: 'reserved',
      idempotencyKey: '',
      createdAt: now,
      expiresAt: now + 300_000,
      paidAt: null,
    })
  }
  return out
}

/** Every batch, `w.parallel` transactions at a time (a new one starts as soon as one ends). */
async function writeAll(w: Way, batches: OrderRecord[][]): Promise<void> {
  let next = 0
  const lane = async () => {
    while (next < batches.length) await w.write(batches[next++]!)
  }
  await Promise.all(Array.from({ length: w.parallel ?? 1 }, lane))
}

/** CPU ms so far of the pool's one backend (utime + stime from /proc, in 1/100 s ticks). */
async function backendCpu(pool: Pool): Promise<number> {
  const r = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
  const f = readFileSync(`/proc/${r.rows[0]!.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(f[11]) + Number(f[12])) * 10
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? Number.NaN
}

async function main(): Promise<void> {
  const st = stores('redis://127.0.0.1:6379', args.database!)
  const pool = createPool({ url: args.database!, schema: st.schema, max: 2, name: 'writer-sql' })
  const ways: Way[] = []
  for (const batch of [100, 500, 2000, 5000]) {
    ways.push({
      name: `unnest ${batch}`,
      batch,
      write: (o) => inTransaction(pool, (c) => upsertOrders(c, o)),
      again: true,
    })
  }
  for (const batch of [100, 500, 5000]) {
    ways.push({
      name: `unnest prepared ${batch}`,
      batch,
      write: (o) => inTransaction(pool, (c) => upsertOrders(c, o, true)),
      again: true,
    })
  }
  for (const batch of [100, 500, 2000, 5000, 10000]) {
    ways.push({
      name: `copy ${batch}`,
      batch,
      write: (o) => inTransaction(pool, (c) => copyUpsertOrders(c, o)),
      again: true,
    })
  }
  for (const batch of [2500, 5000]) {
    ways.push({
      name: `copy ${batch}, 2 in flight`,
      batch,
      write: (o) => inTransaction(pool, (c) => copyUpsertOrders(c, o)),
      again: true,
      parallel: 2,
    })
  }
  ways.push({
    name: 'bare COPY 5000',
    batch: 5000,
    write: (o) => inTransaction(pool, (c) => copyNewOrders(c, o)),
    again: false,
  })
  const chosen = ways.filter((w) => w.name.includes(args.only!))
  const rates = new Map<string, { fresh: number[]; again: number[]; cpu: number[] }>()
  try {
    await migrate(st.pg, st.schema)
    let tag = 0
    for (let round = 0; round < ROUNDS; round++) {
      for (const w of chosen) {
        // Each way starts from an empty table, so every one pays for the same index growth.
        await pool.query('TRUNCATE orders')
        const batches: OrderRecord[][] = []
        const t = `w${tag++}`
        for (let d = 0; d < ROWS; d += w.batch) {
          batches.push(ordersOf(t, d, Math.min(w.batch, ROWS - d)))
        }
        const cpu0 = w.parallel ? 0 : await backendCpu(pool)
        const t0 = performance.now()
        await writeAll(w, batches)
        const fresh = ROWS / ((performance.now() - t0) / 1000)
        const cpu = w.parallel ? Number.NaN : (((await backendCpu(pool)) - cpu0) * 1000) / ROWS
        const t1 = performance.now()
        if (w.again) await writeAll(w, batches)
        const again = w.again ? ROWS / ((performance.now() - t1) / 1000) : Number.NaN
        const r = rates.get(w.name) ?? { fresh: [], again: [], cpu: [] }
        r.fresh.push(fresh)
        r.cpu.push(cpu)
        r.again.push(again)
        rates.set(w.name, r)
        process.stderr.write(`round ${round + 1}: ${w.name}: ${Math.round(fresh)} rows/s\n`)
      }
    }
  } finally {
    await pool.end()
    await st.cleanup()
  }
  console.log(
    `\norder writer SQL: ${availableParallelism()} cores, ${ROWS} rows per way, median of ${ROUNDS} rounds\n`,
  )
  const table: Record<string, Record<string, number | string>> = {}
  for (const [name, r] of rates) {
    table[name] = {
      'new rows/s': Math.round(median(r.fresh)),
      'PostgreSQL CPU µs/new row': Number.isNaN(median(r.cpu)) ? '-' : median(r.cpu).toFixed(1),
      'written again rows/s': Number.isNaN(median(r.again)) ? '-' : Math.round(median(r.again)),
    }
  }
  console.table(table)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
