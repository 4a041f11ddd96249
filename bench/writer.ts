import { writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { migrate } from '../src/db/migrations'
import type { OrderRecord } from '../src/orders/order-record'
import { orderEntry } from '../src/orders/order-record'
import { PgSide } from '../src/orders/writer/pg-side'
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
 * baseline, measured in the same run: the writer's multi-row upsert, WRITER_BATCH rows per
 * statement, sent back to back from this process (no Redis, no HTTP, no thread hop).
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

/** PostgreSQL's ceiling for the writer's statement: `rows` orders in batches, back to back. */
async function baseline(st: ReturnType<typeof stores>, rows: number): Promise<number> {
  await migrate(st.pg, st.schema)
  // The writer's own PostgreSQL side: one upsert in one transaction per batch, as in a step.
  const table = new PgSide(st.pg)
  const now = Date.now()
  const t0 = performance.now()
  for (let done = 0; done < rows; done += BATCH) {
    const orders: OrderRecord[] = []
    for (let i = done; i < Math.min(rows, done + BATCH); i++) {
      orders.push({
        orderId: `base.${String(i).padStart(16, '0')}`,
        saleId: 'base',
        userId: '',
        quantity: 1,
        status: 'reserved',
        idempotencyKey: '',
        createdAt: now,
        expiresAt: now + 300_000,
        paidAt: null,
      })
    }
    const w = await table.write(orders)
    if (w.error !== null) throw new Error(`the baseline upsert failed: ${w.error}`)
  }
  return rows / ((performance.now() - t0) / 1000)
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
    step(`baseline: the writer's upsert, ${BATCH} rows per statement, from this process`)
    const baseRate = await baseline(st, 50_000)

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
        baselineRowsPerS: Math.round(baseRate),
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
            orderId: `flow.backlog${String(i).padStart(10, '0')}`,
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
    const again = await startNode()
    try {
      const deadline = Date.now() + 300_000
      let n = before
      // The clock starts at the first written row: the server's start is not the writer's time.
      let first = 0
      while (n < before + BACKLOG && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20))
        n = await written(st)
        if (first === 0 && n > before) first = Date.now()
      }
      result.startToFirstRowMs = first - t1
      const seconds = (Date.now() - first) / 1000
      result.drainEntries = n - before
      result.drainSeconds = Number(seconds.toFixed(2))
      result.drainPerS = Math.round((n - before) / seconds)
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
    'baseline: bare upsert, rows/s': r.baselineRowsPerS,
    'backlog drain, rows/s': r.drainPerS,
    'drain x baseline': (r.drainPerS! / r.baselineRowsPerS!).toFixed(2),
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
