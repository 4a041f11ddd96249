import type { Worker } from 'node:cluster'
import { AggregatorRegistry } from 'prom-client'
import type { Config } from '../src/config'
import { type Channel, Requests, type ToPrimary, type ToWorker, workerChannel } from '../src/ipc'
import { log } from '../src/log'
import type { SaleRecord } from '../src/sale/sale-record'
import { redactUrl } from '../src/store/redis'
import { primaryRegistry } from './primary-metrics'
import type { QuotaLessor } from './quota-lessor'
import { RateBoard } from './rate-board'
import type { SaleWatch } from './sale-watch'
import { Supervisor } from './supervisor'

/**
 * The primary's half of the IPC protocol (src/ipc.ts): it forks the workers (through the
 * supervisor), answers what they ask (quota, a changed sale, the node's metrics), sums their
 * rate counts, and sends every worker each fresh copy of a sale.
 */

/** How long a changed sale waits for every worker to apply it before the admin route answers. */
const SYNC_TIMEOUT_MS = 2000

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
  private readyCount = 0
  private serving: () => void = () => {}
  private failed: (f: StartFailure) => void = () => {}
  /** resolves when WORKERS workers have said they listen */
  readonly whenServing = new Promise<void>((resolve) => {
    this.serving = resolve
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
    this.supervisor = new Supervisor(config.WORKERS, o.workerFile, o.env, {
      onMessage: (w, msg) => this.onMessage(w, msg as ToPrimary),
      onExit: (w) => o.lessor.forget(w.id),
      onStartFailure: (code, signal) => this.failed({ code, signal }),
    })
  }

  start(): void {
    this.supervisor.start()
  }

  /** SIGTERM every worker (they answer what they admitted) and wait for all to exit. */
  stop(timeoutMs: number): Promise<void> {
    return this.supervisor.stop(timeoutMs)
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
        return this.onReady(to)
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

  private onReady(to: Channel<ToWorker, ToPrimary>): void {
    this.supervisor.markReady()
    for (const sale of this.o.watch.all()) to.send(this.saleMessage(sale))
    if (++this.readyCount !== this.o.config.WORKERS) return
    const { PORT, WORKERS, REDIS_URL } = this.o.config
    log.info({ port: PORT, workers: WORKERS, redis: redactUrl(REDIS_URL) }, 'seckill is serving')
    this.serving()
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
