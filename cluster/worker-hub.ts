import type { Worker } from 'node:cluster'
import { AggregatorRegistry } from 'prom-client'
import type { Config } from '../src/config'
import type { ReloadResult, WorkerSaleView, WorkerStatus } from '../src/control/protocol'
import { type Channel, Requests, type ToPrimary, type ToWorker, workerChannel } from '../src/ipc'
import { log } from '../src/log'
import type { SaleView } from '../src/purchase/desks'
import type { SaleRecord } from '../src/sale/sale-record'
import { redactUrl } from '../src/store/redis'
import { DashboardFeed } from './dashboard-feed'
import { primaryRegistry, workersReplaced } from './primary-metrics'
import type { QuotaLessor } from './quota-lessor'
import { RateBoard } from './rate-board'
import type { SaleWatch } from './sale-watch'
import { type Replacement, Supervisor } from './supervisor'
import { WorkerBoard } from './worker-board'

/**
 * The primary's half of the IPC protocol (src/ipc.ts): it forks the workers (through the
 * supervisor), answers what they ask (quota, a changed sale, the node's metrics), sums their
 * rate counts, and sends every worker each fresh copy of a sale.
 */

/** How long a changed sale waits for every worker to apply it before the admin route answers. */
const SYNC_TIMEOUT_MS = 2000
/** How long `seckill status --sale` waits for a worker's copy of the sale. */
const VIEW_TIMEOUT_MS = 1000
/**
 * A worker gets this long before its RSS may recycle it: a MAX_WORKER_RSS_MB below what a fresh
 * worker needs would otherwise replace workers back to back, each replacement costing a fork and
 * a Redis connection.
 */
const RECYCLE_MIN_AGE_MS = 5000

export interface HubOptions {
  readonly config: Config
  /** the workers' environment (the admin token included) and their entry file */
  readonly env: NodeJS.ProcessEnv
  readonly workerFile: string
  readonly watch: SaleWatch
  readonly lessor: QuotaLessor
}

/** How the first worker that died before the node ever served ended. */
export interface StartFailure {
  readonly code: number | null
  readonly signal: string | null
}

export class WorkerHub {
  private readonly supervisor: Supervisor
  private readonly requests = new Requests()
  private readonly rates: RateBoard
  private readonly aggregator = new AggregatorRegistry()
  private readonly board = new WorkerBoard()
  /** the dashboard's once-a-second snapshot, built only while some worker has a listener */
  readonly dashboard: DashboardFeed
  /** replacements run one at a time: a reload and a recycling never overlap */
  private replacing: Promise<unknown> = Promise.resolve()
  private reloadRun: Promise<ReloadResult> | null = null
  private recycling = false
  /** workers replaced because their RSS passed MAX_WORKER_RSS_MB */
  recycled = 0
  private servingNow = false
  private readyCount = 0
  private nowServing: () => void = () => {}
  private failed: (f: StartFailure) => void = () => {}
  /** resolves when WORKERS workers have said they listen */
  readonly whenServing = new Promise<void>((resolve) => {
    this.nowServing = resolve
  })
  /** resolves if a worker dies before the node ever served: the start has failed */
  readonly startFailed = new Promise<StartFailure>((resolve) => {
    this.failed = resolve
  })

  constructor(private readonly o: HubOptions) {
    const { config } = o
    // Node-wide rate limits: the workers' per-tick counts summed, over-lists sent to every worker.
    this.rates = new RateBoard(
      { user: config.RATE_LIMIT_PER_USER, ip: config.RATE_LIMIT_PER_IP },
      (msg) => this.sendAll(msg),
    )
    this.supervisor = new Supervisor(
      config.WORKERS,
      o.workerFile,
      o.env,
      {
        onMessage: (w, msg) => this.onMessage(w, msg as ToPrimary),
        onExit: (w) => {
          this.dashboard.watch(w.id, false)
          o.lessor.forget(w.id)
          this.board.forget(w.id)
        },
        onStartFailure: (code, signal) => this.failed({ code, signal }),
      },
      config.SHUTDOWN_TIMEOUT_MS,
    )
    this.dashboard = new DashboardFeed({
      node: config.WRITER_NAME,
      metrics: () => this.nodeMetrics(),
      sales: () => o.watch.all(),
      workers: (now) => this.workerStatus(now),
      publish: (json) => {
        for (const w of this.supervisor.live()) {
          if (this.dashboard.isListening(w.id)) this.channel(w).send({ t: 'dashboard', json })
        }
      },
    })
  }

  start(): void {
    this.supervisor.start()
  }

  /** SIGTERM every worker (they drain, answer what they admitted) and wait for all to exit. */
  stop(): Promise<void> {
    this.dashboard.stop()
    return this.supervisor.stop()
  }

  /** True once every worker of the first start has listened. */
  get serving(): boolean {
    return this.servingNow
  }

  /** True while a reload runs. */
  get reloading(): boolean {
    return this.reloadRun !== null
  }

  /**
   * Replace every worker, one slot at a time (new one listening before the old one drains): the
   * new code of src/ and the configuration the primary holds. A reload asked for while one runs
   * gets that one's result.
   */
  reload(): Promise<ReloadResult> {
    if (this.reloadRun) return this.reloadRun
    const started = Date.now()
    const run = this.serially(async () => {
      const replaced: Replacement[] = []
      for (const { slot } of this.supervisor.slotWorkers()) {
        replaced.push(await this.supervisor.replace(slot))
        workersReplaced.labels('reload').inc()
      }
      log.info({ replaced, ms: Date.now() - started }, 'workers reloaded')
      return { replaced, ms: Date.now() - started }
    })
    this.reloadRun = run
    run
      .finally(() => {
        this.reloadRun = null
      })
      .catch(() => {})
    return run
  }

  private serially<T>(step: () => Promise<T>): Promise<T> {
    const next = this.replacing.then(step)
    this.replacing = next.catch(() => {})
    return next
  }

  /** Every slot's worker: pid, age, restarts, and its last report. */
  workerStatus(now: number): WorkerStatus[] {
    return this.supervisor.slotWorkers().map(({ slot, worker, born, restarts }) => {
      const load = this.board.load(worker.id)
      return {
        slot,
        pid: worker.process.pid ?? 0,
        uptimeS: Math.round((now - born) / 1000),
        restarts,
        rssMb: Math.round(load.rssBytes / 2 ** 20),
        cpuPercent: load.cpuPercent,
        requestsPerSecond: load.requestsPerSecond,
        quota: load.quota,
        inflight: load.inflight,
        parked: load.parked,
      }
    })
  }

  /** PM2's max_memory_restart: a worker over MAX_WORKER_RSS_MB is replaced by a reload's step. */
  private checkRss(w: Worker, rssBytes: number): void {
    const limitMb = this.o.config.MAX_WORKER_RSS_MB
    if (limitMb === 0 || this.recycling || rssBytes <= limitMb * 2 ** 20) return
    const slot = this.supervisor.slotOf(w)
    const held = this.supervisor.slotWorkers().find((x) => x.slot === slot)
    if (!held || Date.now() - held.born < RECYCLE_MIN_AGE_MS) return
    this.recycling = true
    const rssMb = Math.round(rssBytes / 2 ** 20)
    log.warn({ pid: w.process.pid, rssMb, limitMb }, 'worker over MAX_WORKER_RSS_MB; replacing it')
    this.serially(() => this.supervisor.replace(slot))
      .then(() => {
        this.recycled++
        workersReplaced.labels('rss').inc()
      })
      .catch((err: Error) =>
        log.error({ err: err.message }, 'replacing a worker over its RSS failed'),
      )
      .finally(() => {
        this.recycling = false
      })
  }

  /** Each worker's copy of a sale, slot by slot (null: no copy, or no answer within 1 s). */
  async views(saleId: string): Promise<WorkerSaleView[]> {
    const slots = this.supervisor.slotWorkers()
    return Promise.all(
      slots.map(async ({ slot, worker }) => ({
        slot,
        pid: worker.process.pid ?? 0,
        view: await this.requests.ask<SaleView | null>(
          (ask) => this.channel(worker).send({ t: 'view', ask, saleId }),
          VIEW_TIMEOUT_MS,
          null,
        ),
      })),
    )
  }

  /** Send a fresh copy of a sale to every worker. */
  broadcast(sale: SaleRecord): void {
    this.sendAll(this.saleMessage(sale))
  }

  /** Send a sale to every worker and resolve when each has applied it (or timed out). */
  async broadcastSynced(sale: SaleRecord): Promise<void> {
    const msg = this.saleMessage(sale)
    await Promise.all(
      this.supervisor
        .live()
        .map((w) =>
          this.requests.ask((ask) => this.channel(w).send({ ...msg, ask }), SYNC_TIMEOUT_MS, null),
        ),
    )
  }

  private saleMessage(sale: SaleRecord): ToWorker & { t: 'sale' } {
    return { t: 'sale', sale, clockOffsetMs: this.o.watch.clockOffsetMs }
  }

  private sendAll(msg: ToWorker): void {
    for (const w of this.supervisor.live()) this.channel(w).send(msg)
  }

  private channel(w: Worker): Channel<ToWorker, ToPrimary> {
    return workerChannel(w)
  }

  private onMessage(w: Worker, msg: ToPrimary): void {
    const { watch, lessor } = this.o
    const to = this.channel(w)
    switch (msg.t) {
      case 'ready':
        return this.onReady(w, to)
      case 'stats':
        this.board.report(w.id, msg, Date.now())
        return this.checkRss(w, msg.rssBytes)
      case 'answer':
        return this.requests.settle(msg)
      case 'need':
        return this.onNeed(w, msg)
      case 'released':
        return lessor.report(w.id, msg.saleId, msg.have, msg.inflight)
      case 'rate':
        return this.rates.report(msg)
      case 'sold-out':
        watch.refresh(msg.saleId).catch(() => {})
        return
      case 'watch':
        this.dashboard.watch(w.id, msg.on)
        // A new listener sees the latest snapshot at once rather than up to a second later.
        if (msg.on && this.dashboard.latest)
          to.send({ t: 'dashboard', json: this.dashboard.latest })
        return
      case 'metrics':
        this.nodeMetrics().then((text) => to.send({ t: 'answer', ask: msg.ask, value: text }))
        return
      case 'changed':
        watch
          .refresh(msg.saleId)
          .then((sale) => (sale ? this.broadcastSynced(sale) : undefined))
          .catch((err: Error) => log.error({ err: err.message }, 'reading a changed sale failed'))
          .finally(() => to.send({ t: 'answer', ask: msg.ask }))
    }
  }

  private onReady(w: Worker, to: Channel<ToWorker, ToPrimary>): void {
    this.supervisor.markReady(w)
    for (const sale of this.o.watch.all()) to.send(this.saleMessage(sale))
    if (++this.readyCount !== this.o.config.WORKERS) return
    this.servingNow = true
    const { PORT, WORKERS, REDIS_URL } = this.o.config
    log.info({ port: PORT, workers: WORKERS, redis: redactUrl(REDIS_URL) }, 'seckill is serving')
    this.nowServing()
  }

  private onNeed(w: Worker, msg: ToPrimary & { t: 'need' }): void {
    const { saleId } = msg
    const to = this.channel(w)
    this.o.lessor
      .need(w.id, saleId, msg.have, msg.inflight, msg.parked)
      .then((g) => {
        to.send({ t: 'grant', saleId, units: g.units, soldOut: g.soldOut, returned: g.returned })
        if (g.soldOut) this.o.watch.refresh(saleId).catch(() => {})
        if (g.release) {
          const holder = this.supervisor.live().find((x) => x.id === g.release?.worker)
          if (holder) this.channel(holder).send({ t: 'release', saleId, units: g.release.units })
        }
      })
      .catch((err: Error) => {
        // The worker's buyers keep waiting; its retry tick asks again.
        log.warn({ err: err.message, saleId }, 'quota request failed')
        to.send({ t: 'grant', saleId, units: 0, soldOut: false, returned: 0 })
      })
  }

  /** Every worker's registry, aggregated, and the primary's own metrics after it. */
  private async nodeMetrics(): Promise<string> {
    const [workers, own] = await Promise.all([
      this.aggregator
        .clusterMetrics()
        .catch((err: Error) => `# worker metrics unavailable: ${err.message}\n`),
      primaryRegistry.metrics(),
    ])
    return workers + own
  }
}
