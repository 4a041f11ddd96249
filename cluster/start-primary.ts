import { join } from 'node:path'
import type { Config } from '../src/config'
import type { NodeStatus, ReloadResult, WorkerSaleView } from '../src/control/protocol'
import { configureLog, log } from '../src/log'
import { createOrderWriter } from '../src/orders/writer/create-writer'
import { SaleBell } from '../src/store/sale-bell'
import { DashboardFleet } from './dashboard-fleet'
import { ExpirySweep } from './expiry-sweeper'
import { nodeStatus } from './node-status'
import { openStores } from './node-stores'
import { pruneEveryMs, pruneOnce } from './order-pruner'
import { Periodic } from './periodic'
import {
  deadLetters,
  ordersWritten,
  writerBacklog,
  writerBatch,
  writerFailures,
  writerLag,
} from './primary-metrics'
import { QuotaLessor } from './quota-lessor'
import { ReconcileJob } from './reconcile-job'
import { SaleMirror } from './sale-mirror'
import { SaleWatch } from './sale-watch'
import { liveWorkers } from './supervisor'
import { WorkerHub } from './worker-hub'

/**
 * A node's primary process: checks the stores, forks one uWS worker per core (WORKERS) and keeps
 * them alive, hands out stock quota, keeps every worker's copy of the sales fresh, and runs the
 * background work of the node: the order writer, the expiry sweep, the pruning of final orders,
 * the reconciler and the mirror of the sale definitions in PostgreSQL.
 */
export interface PrimaryOptions {
  /** the workers' environment: they read their configuration from it, as the primary did */
  readonly env: NodeJS.ProcessEnv
  /** the workers' entry file (default: the built src/worker/main.js) */
  readonly workerFile?: string
  /** a worker died before the node ever served: the start failed, and the node is closed */
  onStartFailure?(): void
  /** the config file the configuration came from, for status (null: none) */
  readonly configFile?: string | null
}

export interface PrimaryHandle {
  /** resolves once every worker listens */
  readonly whenServing: Promise<void>
  /** Stop the workers (they answer what they admitted), let the writer commit, disconnect. */
  close(): Promise<void>
  /** Replace every worker, one at a time, with no connection refused (`seckill reload`). */
  reload(): Promise<ReloadResult>
  /** The node, its workers and its live sales (`seckill status`). */
  status(): Promise<NodeStatus>
  /** Each worker's copy of a sale (`seckill status --sale ID`). */
  views(saleId: string): Promise<WorkerSaleView[]>
}

export async function startPrimary(config: Config, o: PrimaryOptions): Promise<PrimaryHandle> {
  const startedAt = Date.now()
  configureLog(config)
  const { redis, pg } = await openStores(config)
  const prefix = config.REDIS_PREFIX
  const watch = new SaleWatch(redis, prefix, {
    ringGapMs: config.SALE_POLL_MS,
    resyncMs: config.SALE_RESYNC_MS,
    onError: (err) => log.error({ err: err.message }, 'reading the sales failed'),
  })
  /** Redis's clock, as the sale watch last measured it */
  const redisNow = () => Date.now() + watch.clockOffsetMs
  const writer = createOrderWriter(
    config,
    { ordersWritten, writerBatch, writerFailures, deadLetters, writerBacklog, writerLag },
    redisNow,
  )
  // Sale definitions go to PostgreSQL (for `seckill restore`) in the background, never waited for.
  const mirror = new SaleMirror(pg)
  const lessor = new QuotaLessor(redis, prefix, config.QUOTA_CHUNK, () => liveWorkers().length)
  const hub = new WorkerHub({
    config,
    env: o.env,
    workerFile: o.workerFile ?? join(__dirname, '../src/worker/main.js'),
    watch,
    lessor,
  })
  watch.onSale((sale) => writer.track(sale.id))
  watch.onSale((sale) => mirror.offer(sale))
  watch.onSale((sale) => hub.broadcast(sale))

  const saleIds = () => Array.from(watch.all(), (s) => s.id)
  const sweep = new ExpirySweep(redis, prefix, redisNow, (saleId) => {
    watch.refresh(saleId).catch(() => {})
  })
  // One subscriber for the node: the scripts publish on a sale's channel when they change the
  // sale or append to its order stream, and each part looks at that sale then, not by polling.
  const bell = new SaleBell(config, prefix, `seckill-bell-${process.pid}`)
  bell.listen(writer)
  bell.listen(watch)
  bell.listen(sweep)
  const reconcile = new ReconcileJob(redis, pg, prefix, saleIds)
  bell.listen(reconcile)
  const retentionMs = config.ORDER_RETENTION_S * 1000
  // The primary's periodic work; each pass covers every sale the watch knows.
  const jobs = [
    new Periodic(config.SWEEP_MS, 'the expiry sweep', () => sweep.once(saleIds())),
    new Periodic(pruneEveryMs(retentionMs), 'pruning final orders', () =>
      pruneOnce(redis, prefix, retentionMs, saleIds, redisNow),
    ),
    new Periodic(config.RECONCILE_INTERVAL_MS, 'reconciliation', () => reconcile.once()),
  ]
  bell.start()
  await watch.start()
  hub.start()
  for (const job of jobs) job.start()
  const fleet = new DashboardFleet(redis, prefix, config.WRITER_NAME, hub.dashboard)
  bell.listenForDashboards(() => fleet.watched())
  fleet.start()
  // logrotate signals the primary (kill -USR2): every worker reopens its file too.
  const reopenLogs = () => {
    for (const w of liveWorkers()) w.process.kill('SIGUSR2')
  }
  if (config.LOG_FILE !== '') process.on('SIGUSR2', reopenLogs)

  const close = async () => {
    process.off('SIGUSR2', reopenLogs)
    fleet.stop()
    bell.stop()
    watch.stop()
    // No retries from now on; an upsert in flight ends before pg.end() closes its connection.
    void mirror.stop()
    await hub.stop()
    // The workers' last orders are in the stream: the writer's running steps commit them.
    await Promise.all([...jobs.map((job) => job.stop()), writer.stop()])
    await pg.end()
    redis.disconnect()
  }
  let closing: Promise<void> | null = null
  const closeOnce = () => {
    closing ??= close()
    return closing
  }
  hub.startFailed.then(async ({ code, signal }) => {
    log.fatal({ code, signal }, 'a worker failed to start; see its message above')
    await closeOnce()
    o.onStartFailure?.()
  })
  const parts = { config, configFile: o.configFile ?? null, startedAt, redis, pg, hub, watch }
  return {
    whenServing: hub.whenServing,
    close: closeOnce,
    reload: () => hub.reload(),
    status: () => nodeStatus(parts),
    views: (saleId) => hub.views(saleId),
  }
}
