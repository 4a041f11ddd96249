import { readFileSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import type { Pool } from 'pg'
import { migrate } from '../src/db/migrations'
import { createPool, inTransaction } from '../src/db/pg'
import { collapse, type OrderRecord, orderEntry, orderFromEntry } from '../src/orders/order-record'
import { upsertOrders } from '../src/orders/order-sql'
import { PgSide } from '../src/orders/writer/pg-side'
import { StreamSide } from '../src/orders/writer/stream-side'
import { MAX_TRANSACTION_ROWS, OrderWriter } from '../src/orders/writer/write-step'
import { saleKeys } from '../src/store/keys'
import { createRedis } from '../src/store/redis'
import { stores } from './harness/store-fixture'

/**
 * Where the order writer's time goes, in this process and thread (no Piscina, no loop, no
 * server), on a backlog of --backlog entries:
 *
 * 1. parts: one batch of --batch entries at a time, each part timed on its own: the read
 *    (XREADGROUP), the parse (orderFromEntry), the PostgreSQL write (the writer's PgSide, or with
 *    --unnest the multi-row unnest upsert the writer used before COPY), the settle (XACK+XDEL)
 *    and the measure (XLEN+XRANGE);
 * 2. steps: the same backlog drained by OrderWriter.step back to back, as the loop calls it.
 *
 * For each, the CPU each process spent per row: this process (all its threads, GC included),
 * Redis (the whole server: other clients of a shared Redis count too) and the pool's PostgreSQL
 * backends. Rows/s is bounded by the slowest of them and by their sum over the machine's cores.
 *
 *   node dist/bench/writer-parts.js [--backlog 100000] [--batch 500] [--unnest]
 *       [--txn 5000] [--budget 100] [--steps-only] [--profile steps.cpuprofile]
 */
const { values: args } = parseArgs({
  options: {
    backlog: { type: 'string', default: '100000' },
    batch: { type: 'string', default: '500' },
    unnest: { type: 'boolean', default: false },
    txn: { type: 'string', default: String(MAX_TRANSACTION_ROWS) },
    budget: { type: 'string', default: '100' },
    'steps-only': { type: 'boolean', default: false },
    profile: { type: 'string', default: '' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    database: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
  },
})
const BACKLOG = Number(args.backlog)
const BATCH = Number(args.batch)
const APP = 'writer-parts'

type Stores = ReturnType<typeof stores>

async function fill(st: Stores, saleId: string): Promise<void> {
  const k = saleKeys(st.prefix, saleId)
  const now = Date.now()
  for (let done = 0; done < BACKLOG; done += 1000) {
    const pipe = st.redis.pipeline()
    for (let i = done; i < Math.min(BACKLOG, done + 1000); i++) {
      pipe.xadd(
        k.stream,
        '*',
        ...orderEntry({
          orderId: `${saleId}.${String(i).padStart(10, '0')}`,
          userId: '',
          quantity: 1,
          createdAt: now,
          expiresAt: now + 300_000,
          idempotencyKey: '',
          status: 'reserved',
          paidAt: '',
        }),
      )
    }
    await pipe.exec()
  }
}

interface Cpu {
  /** ms of CPU so far */
  readonly node: number
  readonly redis: number
  readonly pg: number
}

/** CPU so far of this process, the Redis server and this benchmark's PostgreSQL backends. */
async function cpu(st: Stores): Promise<Cpu> {
  const own = process.cpuUsage()
  const info = await st.redis.info('cpu')
  const seconds = (field: string) => Number(new RegExp(`${field}:([\\d.]+)`).exec(info)?.[1])
  const r = await st.pg.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
    [APP],
  )
  let ticks = 0
  for (const { pid } of r.rows) {
    // utime and stime, in clock ticks (1/100 s), fields 14 and 15 of /proc/<pid>/stat.
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    ticks += Number(f[11]) + Number(f[12])
  }
  return {
    node: (own.user + own.system) / 1000,
    redis: (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1000,
    pg: ticks * 10,
  }
}

function perRow(a: Cpu, b: Cpu): string {
  const us = (ms: number) => `${((1000 * ms) / BACKLOG).toFixed(1)} µs`
  return `node ${us(b.node - a.node)}, Redis ${us(b.redis - a.redis)}, PostgreSQL ${us(b.pg - a.pg)}`
}

async function profiled<T>(file: string, fn: () => Promise<T>): Promise<T> {
  if (!file) return fn()
  const s = new Session()
  s.connect()
  await s.post('Profiler.enable')
  await s.post('Profiler.start')
  try {
    return await fn()
  } finally {
    const { profile } = await s.post('Profiler.stop')
    writeFileSync(file, JSON.stringify(profile))
    s.disconnect()
  }
}

async function parts(st: Stores, stream: StreamSide, pool: Pool): Promise<void> {
  const table = new PgSide(pool)
  const write = args.unnest
    ? async (o: OrderRecord[]) => inTransaction(pool, (c) => upsertOrders(c, collapse(o)))
    : async (o: OrderRecord[]) => {
        const w = await table.write(o)
        if (w.error !== null) throw new Error(w.error)
      }
  await fill(st, 'parts')
  const t = { read: 0, parse: 0, write: 0, settle: 0, measure: 0 }
  const c0 = await cpu(st)
  const t0 = performance.now()
  for (;;) {
    let a = performance.now()
    const { entries } = await stream.read('parts', 'c', 'new')
    t.read += performance.now() - a
    if (entries.length === 0) break
    a = performance.now()
    const orders = entries.map((e) => orderFromEntry('parts', e[1]!) as OrderRecord)
    t.parse += performance.now() - a
    a = performance.now()
    await write(orders)
    t.write += performance.now() - a
    a = performance.now()
    await stream.settle(
      'parts',
      entries.map((e) => e[0]),
    )
    t.settle += performance.now() - a
    a = performance.now()
    await stream.measure('parts')
    t.measure += performance.now() - a
  }
  const total = performance.now() - t0
  const c1 = await cpu(st)
  const how = args.unnest ? 'unnest upsert' : "the writer's PgSide"
  console.log(
    `parts, one batch of ${BATCH} at a time, ${how}: ` +
      `${Math.round(BACKLOG / (total / 1000))} rows/s; CPU per row: ${perRow(c0, c1)}`,
  )
  for (const [k, v] of Object.entries(t)) {
    console.log(
      `  ${k.padEnd(8)} ${v.toFixed(0).padStart(6)} ms  ${((100 * v) / total).toFixed(1)} %`,
    )
  }
}

async function steps(st: Stores, stream: StreamSide, pool: Pool): Promise<void> {
  const writer = new OrderWriter(stream, new PgSide(pool), null, {
    stepBudgetMs: Number(args.budget),
    maxTransactionRows: Number(args.txn),
  })
  await fill(st, 'steps')
  const c0 = await cpu(st)
  const t0 = performance.now()
  let n = 0
  let count = 0
  await profiled(args.profile!, async () => {
    for (;;) {
      const r = await writer.step({ saleId: 'steps', consumer: 'c', from: 'new' })
      if (r.error !== null) throw new Error(r.error)
      n += r.read
      count++
      if (!r.more) break
    }
  })
  const seconds = (performance.now() - t0) / 1000
  const c1 = await cpu(st)
  console.log(
    `steps (budget ${args.budget} ms, ≤ ${args.txn} rows per transaction): ` +
      `${Math.round(n / seconds)} rows/s in ${count} steps; CPU per row: ${perRow(c0, c1)}`,
  )
}

async function main(): Promise<void> {
  const st = stores(args.redis!, args.database!)
  const redis = createRedis({ REDIS_URL: args.redis!, REDIS_CLUSTER: 'off' }, APP, 10_000)
  await redis.connect()
  const pool = createPool({ url: args.database!, schema: st.schema, max: 4, name: APP })
  console.log(`writer parts: ${availableParallelism()} cores, backlog ${BACKLOG}, batch ${BATCH}`)
  try {
    await migrate(st.pg, st.schema)
    const o = { prefix: st.prefix, batch: BATCH, claimIdleMs: 30_000, maxDeliveries: 5 }
    const stream = new StreamSide(redis, o)
    if (!args['steps-only']) await parts(st, stream, pool)
    await steps(st, stream, pool)
  } finally {
    redis.disconnect()
    await pool.end()
    await st.cleanup()
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
