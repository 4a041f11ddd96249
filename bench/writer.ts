import { writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import type { Pool } from 'pg'
import { migrate } from '../src/db/migrations'
import { inTransaction } from '../src/db/pg'
import type { OrderRecord } from '../src/orders/order-record'
import { orderEntry } from '../src/orders/order-record'
import { copyNewOrders, upsertOrders } from '../src/orders/order-sql'
import { PgSide } from '../src/orders/writer/pg-side'
import { MAX_TRANSACTION_ROWS } from '../src/orders/writer/write-step'
import { saleKeys } from '../src/store/keys'
import { timeToMs } from '../src/store/redis-time'
import { histogram, openSale } from './harness/admin'
import { SERVING, start, stop } from './harness/servers'
import { ROOT } from './harness/spawn'
import { stores } from './harness/store-fixture'

/**
 * The order writer's numbers: orders per second into PostgreSQL and the lag behind the sale,
 * during a sustained sale where every request wins (GET /buy/ticket, huge stock), sampled every
 * 250 ms; then how long the backlog takes to drain once the load stops. Then the writer's own
 * ceiling: a backlog of --backlog entries (what a PostgreSQL outage leaves) put in the stream
 * while the server is down, and the time the restarted server takes to write it all. The
 * baselines, measured in the same run from this process (no Redis, no HTTP, no thread hop), each
 * batch in its own transaction, sent back to back:
 * - bare COPY: rows COPYed straight into `orders`, MAX_TRANSACTION_ROWS per COPY: PostgreSQL's
 *   floor for putting these rows in this table (no conflict handling, so not a way to write);
 * - bare upsert: the multi-row upsert statement (unnest arrays), WRITER_BATCH rows per statement;
 * - writer's SQL: the writer's own PostgreSQL side (COPY into a staging table, one INSERT …
 *   SELECT … ON CONFLICT), MAX_TRANSACTION_ROWS per transaction.
 *
 *   npm run bench:writer -- [--duration 20] [--connections 50] [--workers 2] [--batch 500]
 *                           [--backlog 100000]
 */
const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '20' },
    connections: { type: 'string', default: '50' },
    workers: { type: 'string', default: '2' },
    batch: { type: 'string', default: '500' },
    backlog: { type: 'string', default: '100000' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    database: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
  },
})
const DURATION = Number(args.duration)
const CONNECTIONS = Number(args.connections)
const WORKERS = Number(args.workers)
const BATCH = Number(args.batch)
const BACKLOG = Number(args.backlog)
const PORT = 3072
const SAMPLE_MS = 250

interface Sample {
  t: number
  inPg: number
  backlog: number
  lagMs: number
}

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return 0
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!
}

/** Orders of the benchmark's sale in PostgreSQL. */
async function written(st: ReturnType<typeof stores>): Promise<number> {
  const r = await st.pg.query("SELECT count(*)::int AS n FROM orders WHERE sale_id = 'flow'")
  return r.rows[0].n as number
}

/**
 * Rows/s of `write`: `rows` new orders of sale `saleId`, `batch` per call, back to back (the
 * orders are made before the clock starts).
 */
async function baseline(
  saleId: string,
  rows: number,
  batch: number,
  write: (orders: OrderRecord[]) => Promise<unknown>,
): Promise<number> {
  const now = Date.now()
  const batches: OrderRecord[][] = []
  for (let done = 0; done < rows; done += batch) {
    const orders: OrderRecord[] = []
    for (let i = done; i < Math.min(rows, done + batch); i++) {
      orders.push({
        orderId: `${saleId}.${String(i).padStart(16, '0')}`,
        saleId,
        userId: '',
        quantity: 1,
        status: 'reserved',
        idempotencyKey: '',
        createdAt: now,
        expiresAt: now + 300_000,
        paidAt: null,
      })
    }
    batches.push(orders)
  }
  const t0 = performance.now()
  for (const orders of batches) await write(orders)
  return rows / ((performance.now() - t0) / 1000)
}

/** The three baselines (see the top of this file), then an empty `orders` for the run. */
async function baselines(pg: Pool, schema: string, rows: number) {
  await migrate(pg, schema)
  const copy = await baseline('base-copy', rows, MAX_TRANSACTION_ROWS, (o) =>
    inTransaction(pg, (c) => copyNewOrders(c, o)),
  )
  const upsert = await baseline('base-upsert', rows, BATCH, (o) =>
    inTransaction(pg, (c) => upsertOrders(c, o)),
  )
  const table = new PgSide(pg)
  const writerSql = await baseline('base-writer', rows, MAX_TRANSACTION_ROWS, async (o) => {
    const w = await table.write(o)
    if (w.error !== null) throw new Error(`the writer's SQL failed: ${w.error}`)
  })
  await pg.query('TRUNCATE orders')
  return { copy, upsert, writerSql }
}

/** The order id of the `i`th backlog entry. */
function backlogId(i: number): string {
  return `flow.backlog${String(i).padStart(10, '0')}`
}

async function main(): Promise<void> {
  const step = (s: string) => process.stderr.write(`bench: ${s}\n`)
  const st = stores(args.redis!, args.database!)
  const startNode = () =>
    start(
      'cluster/primary.js',
      PORT,
      WORKERS,
      { ...st.env(), WRITER_BATCH: String(BATCH) },
      SERVING,
    )
  const k = saleKeys(st.prefix, 'flow')
  const samples: Sample[] = []
  let result: Record<string, unknown>
  try {
    step("baselines: bare COPY, bare upsert and the writer's SQL, from this process")
    const base = await baselines(st.pg, st.schema, 50_000)

    step(`sale: ${CONNECTIONS} connections x ${DURATION} s, every request wins`)
    const proc = await startNode()
    try {
      await openSale(PORT, 'flow', 1e9)
      const t0 = Date.now()
      const sample = async () => {
        const [r, len, first, time] = await Promise.all([
          written(st),
          st.redis.xlen(k.stream),
          st.redis.xrange(k.stream, '-', '+', 'COUNT', 1),
          st.redis.time(),
        ])
        const nowMs = timeToMs(time)
        const oldest = first[0] ? Number(first[0][0].split('-')[0]) : nowMs
        samples.push({ t: Date.now() - t0, inPg: r, backlog: len, lagMs: nowMs - oldest })
      }
      let sampling = true
      const sampler = (async () => {
        while (sampling) {
          await sample()
          await new Promise((r) => setTimeout(r, SAMPLE_MS))
        }
      })()
      const load = await autocannon({
        url: `http://127.0.0.1:${PORT}/buy/ticket`,
        connections: CONNECTIONS,
        duration: DURATION,
      })
      const loadEnd = Date.now() - t0
      const sold = Number(await st.redis.hget(k.sale, 'sold'))
      step(`load done: ${sold} orders made; waiting for the backlog to drain`)
      const drainDeadline = Date.now() + 120_000
      while ((samples.at(-1)?.inPg ?? 0) < sold && Date.now() < drainDeadline) {
        await new Promise((r) => setTimeout(r, SAMPLE_MS))
      }
      sampling = false
      await sampler
      await sample()
      const last = samples.at(-1)!
      const during = samples.filter((s) => s.t <= loadEnd)
      const atLoadEnd = during.at(-1) ?? last
      const drainedAt = samples.find((s) => s.inPg >= sold)?.t ?? Number.NaN
      const metrics = await (await fetch(`http://127.0.0.1:${PORT}/metrics`)).text()
      const batches = histogram(metrics, 'seckill_writer_batch_size')
      result = {
        cores: availableParallelism(),
        workers: WORKERS,
        connections: CONNECTIONS,
        durationS: DURATION,
        writerBatch: BATCH,
        copyBaselineRowsPerS: Math.round(base.copy),
        baselineRowsPerS: Math.round(base.upsert),
        writerSqlRowsPerS: Math.round(base.writerSql),
        ordersMade: sold,
        ordersMadePerS: Math.round(sold / (loadEnd / 1000)),
        httpReqPerS: Math.round(load.requests.average),
        writtenDuringLoadPerS: Math.round(atLoadEnd.inPg / (loadEnd / 1000)),
        writtenOverallPerS: Math.round(last.inPg / (drainedAt / 1000)),
        inPgAtEnd: last.inPg,
        backlogMax: Math.max(...samples.map((s) => s.backlog)),
        lagP50Ms: percentile(
          during.map((s) => s.lagMs),
          50,
        ),
        lagP99Ms: percentile(
          during.map((s) => s.lagMs),
          99,
        ),
        lagMaxMs: Math.max(...during.map((s) => s.lagMs)),
        drainAfterLoadMs: Math.max(0, drainedAt - loadEnd),
        writerSteps: batches.count,
        meanBatch: Number(batches.mean.toFixed(1)),
        medianBatchAtMost: batches.median,
      }
    } finally {
      await stop(proc)
    }

    step(`drain: ${BACKLOG} entries in the stream while the server is down, then a start`)
    const before = await written(st)
    const now = Date.now()
    for (let done = 0; done < BACKLOG; done += 1000) {
      const pipe = st.redis.pipeline()
      for (let i = done; i < Math.min(BACKLOG, done + 1000); i++) {
        pipe.xadd(
          k.stream,
          '*',
          ...orderEntry({
            orderId: backlogId(i),
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
    const t1 = Date.now()
    const deadline = t1 + 300_000
    // The clock starts at the first backlog row in PostgreSQL and stops when the stream is
    // empty: an entry leaves it only after its row is committed. The writer starts before the
    // node's workers do, so the first row is watched for while the node starts. Both probes are
    // an index lookup and XLEN, every 20 ms; counting the rows instead (an index scan of the
    // whole sale, ~20 ms at 150,000 rows) would keep a PostgreSQL backend half busy beside the
    // writer it measures.
    let first = 0
    const firstRow = (async () => {
      while (first === 0 && Date.now() < deadline) {
        const r = await st.pg.query('SELECT 1 FROM orders WHERE order_id = $1', [backlogId(0)])
        if (r.rowCount) first = Date.now()
        else await new Promise((r) => setTimeout(r, 20))
      }
    })()
    const again = await startNode()
    try {
      // The node is serving: its workers have started. Until then the writer drained beside two
      // processes starting (loading uWS, compiling): what is left now is also timed on its own.
      const tServing = Date.now()
      const leftAtServing = await st.redis.xlen(k.stream)
      await firstRow
      while ((await st.redis.xlen(k.stream)) > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20))
      }
      const end = Date.now()
      const seconds = (end - first) / 1000
      const n = await written(st)
      result.startToFirstRowMs = first - t1
      result.drainEntries = n - before
      result.drainSeconds = Number(seconds.toFixed(2))
      result.drainPerS = Math.round((n - before) / seconds)
      result.leftAtServing = leftAtServing
      result.drainServingPerS = Math.round(leftAtServing / ((end - tServing) / 1000))
    } finally {
      await stop(again)
    }
  } finally {
    await st.cleanup()
  }

  const file = join(ROOT, 'bench', 'results', `writer-${new Date().toISOString()}.json`)
  writeFileSync(file, `${JSON.stringify({ ...result, samples }, null, 2)}\n`)
  const r = result as Record<string, number>
  console.log(
    `\nseckill order writer: ${r.cores} cores, ${WORKERS} workers, autocannon ${CONNECTIONS} ` +
      `connections x ${DURATION} s on GET /buy/ticket (every request wins), WRITER_BATCH ${BATCH}\n`,
  )
  console.table({
    [`baseline: bare COPY, ${MAX_TRANSACTION_ROWS} rows/COPY, rows/s`]: r.copyBaselineRowsPerS,
    [`baseline: bare upsert, ${BATCH} rows/statement, rows/s`]: r.baselineRowsPerS,
    [`baseline: writer's SQL alone, ${MAX_TRANSACTION_ROWS} rows/txn, rows/s`]: r.writerSqlRowsPerS,
    'backlog drain, rows/s (from the first row)': r.drainPerS,
    [`  of which once serving (${r.leftAtServing} rows left), rows/s`]: r.drainServingPerS,
    'drain x bare COPY': (r.drainPerS! / r.copyBaselineRowsPerS!).toFixed(2),
    'drain x bare upsert': (r.drainPerS! / r.baselineRowsPerS!).toFixed(2),
    "drain x writer's SQL": (r.drainPerS! / r.writerSqlRowsPerS!).toFixed(2),
    'sale: orders made/s (Redis)': r.ordersMadePerS,
    'sale: orders written/s during load': r.writtenDuringLoadPerS,
    'sale: written/s to the last one': r.writtenOverallPerS,
    'lag p50 / p99 / max ms': `${r.lagP50Ms} / ${r.lagP99Ms} / ${r.lagMaxMs}`,
    'backlog max (entries)': r.backlogMax,
    'drain after load ms': r.drainAfterLoadMs,
    'writer batch mean / median <=': `${r.meanBatch} / ${r.medianBatchAtMost}`,
    'orders in PostgreSQL / made': `${r.inPgAtEnd} / ${r.ordersMade}`,
  })
  console.log(`results: ${file}`)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
