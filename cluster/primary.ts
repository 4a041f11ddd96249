import type { Worker } from 'node:cluster'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { AggregatorRegistry } from 'prom-client'
import { type Config, loadConfig } from '../src/config'
import { migrate } from '../src/db/migrations'
import { checkPg, createPool } from '../src/db/pg'
import type { ToPrimary, ToWorker } from '../src/ipc'
import { die, log } from '../src/log'
import type { SaleRecord } from '../src/sale/sale-record'
import { describeDurability, durabilityShortfall, readDurability } from '../src/store/durability'
import { checkRedisPolicy, connectRedis, redactUrl } from '../src/store/redis'
import type { ScriptedRedis } from '../src/store/scripts'
import { ExpirySweeper } from './expiry-sweeper'
import { OrderPruner } from './order-pruner'
import { WriterLoop } from './order-writer-loop'
import { primaryRegistry, redisAof, redisFsyncAlways } from './primary-metrics'
import { QuotaLessor } from './quota-lessor'
import { RateBoard } from './rate-board'
import { ReconcileJob } from './reconcile-job'
import { SaleMirror } from './sale-mirror'
import { SaleWatch } from './sale-watch'
import { Supervisor } from './supervisor'

/**
 * The primary process: checks Redis, forks one uWS worker per core, restarts dead ones, hands
 * out stock quota and keeps every worker's copy of the sales fresh. Entry file: wiring only.
 */
const SYNC_TIMEOUT_MS = 2000

function adminToken(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (env.SECKILL_ADMIN_TOKEN) return env
  const token = randomBytes(24).toString('base64url')
  log.warn(
    { token },
    'SECKILL_ADMIN_TOKEN is not set: admin routes use this generated token until restart',
  )
  return { ...env, SECKILL_ADMIN_TOKEN: token }
}

/** Say plainly what a Redis crash would lose; refuse to start below REDIS_DURABILITY. */
async function checkDurability(redis: ScriptedRedis, config: Config): Promise<void> {
  const d = await readDurability(redis)
  const shortfall = durabilityShortfall(d, config.REDIS_DURABILITY)
  if (shortfall !== null) die(shortfall, 2)
  redisAof.set(d.aof ? 1 : 0)
  redisFsyncAlways.set(d.aof && d.fsync === 'always' ? 1 : 0)
  const fields = { durability: describeDurability(d), required: config.REDIS_DURABILITY }
  if (d.aof && d.fsync !== 'no') log.info(fields, 'Redis durability')
  else
    log.warn(
      fields,
      'Redis keeps no AOF: a Redis restart loses sales and orders not yet in PostgreSQL ' +
        '(set appendonly yes; REDIS_DURABILITY=aof to require it)',
    )
}

async function main(): Promise<void> {
  const env = adminToken(process.env)
  let config: Config
  try {
    config = loadConfig(env)
  } catch (err) {
    die((err as Error).message, 2)
  }
  const redis = await connectRedis(config.REDIS_URL, 'seckill-primary', config.REDIS_TIMEOUT_MS)
  await checkRedisPolicy(redis)
  await checkDurability(redis, config)
  const pgOptions = {
    url: config.DATABASE_URL,
    schema: config.PG_SCHEMA,
    max: config.PG_POOL_MAX,
    name: 'seckill-primary',
  }
  const pg = createPool({ ...pgOptions, max: 2 })
  await checkPg(pg, config.DATABASE_URL)
  const applied = await migrate(pg, config.PG_SCHEMA)
  if (applied.length > 0) log.info({ versions: applied }, 'PostgreSQL schema migrated')

  const send = (w: Worker, msg: ToWorker) => {
    if (w.isConnected()) w.send(msg)
  }
  let nextSync = 1
  const syncs = new Map<number, { left: number; done: () => void }>()

  const writer = new WriterLoop({
    threads: config.WRITER_THREADS,
    consumer: config.WRITER_NAME,
    idleMs: config.WRITER_IDLE_MS,
    claimIdleMs: config.WRITER_CLAIM_IDLE_MS,
    now: () => Date.now() + watch.clockOffsetMs,
    task: {
      redisUrl: config.REDIS_URL,
      redisTimeoutMs: config.REDIS_TIMEOUT_MS,
      pg: { ...pgOptions, name: 'seckill-writer' },
      writer: {
        prefix: config.REDIS_PREFIX,
        batch: config.WRITER_BATCH,
        claimIdleMs: config.WRITER_CLAIM_IDLE_MS,
        maxDeliveries: config.WRITER_MAX_DELIVERIES,
        crashAt: config.SECKILL_CRASH_AT ?? null,
      },
    },
  })

  const broadcast = (sale: SaleRecord, sync?: number) => {
    writer.track(sale.id)
    for (const w of supervisor.live())
      send(w, { t: 'sale', sale, clockOffsetMs: watch.clockOffsetMs, sync })
  }

  /** Send a sale to every worker and resolve when each has applied it (or timed out). */
  const broadcastSynced = (sale: SaleRecord) =>
    new Promise<void>((resolve) => {
      const live = supervisor.live()
      if (live.length === 0) return resolve()
      const id = nextSync++
      const timer = setTimeout(() => {
        syncs.delete(id)
        resolve()
      }, SYNC_TIMEOUT_MS)
      syncs.set(id, {
        left: live.length,
        done: () => {
          clearTimeout(timer)
          resolve()
        },
      })
      broadcast(sale, id)
    })

  // Sale definitions go to PostgreSQL (for `seckill restore`) in the background, never waited for.
  const mirror = new SaleMirror(pg)
  const watch = new SaleWatch(
    redis,
    config.REDIS_PREFIX,
    config.SALE_POLL_MS,
    broadcast,
    (err) => log.error({ err: err.message }, 'polling the sales failed'),
    mirror,
  )
  const lessor = new QuotaLessor(
    redis,
    config.REDIS_PREFIX,
    config.QUOTA_CHUNK,
    () => supervisor.live().length,
  )

  const saleIds = () => Array.from(watch.all(), (s) => s.id)
  const sweeper = new ExpirySweeper(
    redis,
    config.REDIS_PREFIX,
    config.SWEEP_MS,
    saleIds,
    (saleId) => void watch.refresh(saleId).catch(() => {}),
  )

  const pruner = new OrderPruner(
    redis,
    config.REDIS_PREFIX,
    config.ORDER_RETENTION_S * 1000,
    saleIds,
  )
  const reconciler = new ReconcileJob(
    redis,
    pg,
    config.REDIS_PREFIX,
    config.RECONCILE_INTERVAL_MS,
    saleIds,
  )

  // Node-wide rate limits: the workers' per-tick counts summed, over-lists sent to every worker.
  const rates = new RateBoard(
    { user: config.RATE_LIMIT_PER_USER, ip: config.RATE_LIMIT_PER_IP },
    (msg) => {
      for (const x of supervisor.live()) send(x, msg)
    },
  )
  const aggregator = new AggregatorRegistry()
  const onMessage = (w: Worker, raw: unknown) => {
    const msg = raw as ToPrimary
    switch (msg.t) {
      case 'ready':
        supervisor.markReady()
        for (const sale of watch.all())
          send(w, { t: 'sale', sale, clockOffsetMs: watch.clockOffsetMs })
        if (++readyCount === config.WORKERS) {
          log.info(
            { port: config.PORT, workers: config.WORKERS, redis: redactUrl(config.REDIS_URL) },
            'seckill is serving',
          )
        }
        break
      case 'synced': {
        const s = syncs.get(msg.sync)
        if (s && --s.left === 0) {
          syncs.delete(msg.sync)
          s.done()
        }
        break
      }
      case 'need':
        lessor
          .need(w.id, msg.saleId, msg.have, msg.inflight, msg.parked)
          .then((g) => {
            send(w, {
              t: 'grant',
              saleId: msg.saleId,
              units: g.units,
              soldOut: g.soldOut,
              returned: g.returned,
            })
            if (g.soldOut) watch.refresh(msg.saleId).catch(() => {})
            if (g.release) {
              const holder = supervisor.live().find((x) => x.id === g.release?.worker)
              if (holder) send(holder, { t: 'release', saleId: msg.saleId, units: g.release.units })
            }
          })
          .catch((err: Error) => {
            // The worker's buyers keep waiting; its retry tick asks again.
            log.warn({ err: err.message, saleId: msg.saleId }, 'quota request failed')
            send(w, { t: 'grant', saleId: msg.saleId, units: 0, soldOut: false, returned: 0 })
          })
        break
      case 'released':
        lessor.report(w.id, msg.saleId, msg.have, msg.inflight)
        break
      case 'rate':
        rates.report(msg)
        break
      case 'sold-out':
        watch.refresh(msg.saleId).catch(() => {})
        break
      case 'metrics':
        Promise.all([
          aggregator
            .clusterMetrics()
            .catch((err: Error) => `# worker metrics unavailable: ${err.message}\n`),
          primaryRegistry.metrics(),
        ]).then(([workers, own]) => send(w, { t: 'metrics', id: msg.id, text: workers + own }))
        break
      case 'changed':
        watch
          .refresh(msg.saleId)
          .then((sale) => (sale ? broadcastSynced(sale) : undefined))
          .catch((err: Error) => log.error({ err: err.message }, 'reading a changed sale failed'))
          .finally(() => send(w, { t: 'ack', id: msg.id }))
        break
    }
  }

  let readyCount = 0
  const supervisor: Supervisor = new Supervisor(
    config.WORKERS,
    join(__dirname, '../src/worker/main.js'),
    env,
    {
      onMessage,
      onExit: (w) => lessor.forget(w.id),
      onStartFailure: (code, signal) => {
        log.fatal({ code, signal }, 'a worker failed to start; see its message above')
        void supervisor.stop(config.SHUTDOWN_TIMEOUT_MS).then(() => process.exit(1))
      },
    },
  )
  await watch.start()
  supervisor.start()
  sweeper.start()
  pruner.start()
  reconciler.start()

  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'stopping: workers finish in-flight requests')
    watch.stop()
    // No retries from now on; an upsert in flight ends before pg.end() closes its connection.
    void mirror.stop()
    supervisor
      .stop(config.SHUTDOWN_TIMEOUT_MS)
      // The workers' last orders are in the stream: the writer's running steps commit them.
      .then(() => Promise.all([sweeper.stop(), pruner.stop(), reconciler.stop(), writer.stop()]))
      .then(() => pg.end())
      .then(() => {
        redis.disconnect()
        process.exit(0)
      })
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

main().catch((err: Error) => die(err.message))
