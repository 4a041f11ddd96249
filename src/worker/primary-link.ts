import type { RateLimits } from '../http/rate-limit'
import { type Channel, Requests, type ToPrimary, type ToWorker } from '../ipc'
import type { Desks } from '../purchase/desks'
import type { QuotaSource } from '../purchase/pipeline'

/**
 * The worker's half of the IPC protocol (src/ipc.ts): what it tells the primary (ready, quota
 * needs, sell-outs, rate counts), what it asks and waits for (a changed sale applied on every
 * worker, the node's metrics), and where the primary's messages go (desks, rate limits).
 */

/**
 * The primary answers `changed` after one Redis read (≤ REDIS_TIMEOUT_MS) and every worker's
 * answer (≤ 2 s, cluster/worker-hub.ts): wait that long, plus a margin, before going on without.
 */
const CHANGED_MARGIN_MS = 3000
/** Over prom-client's own 5 s wait for the workers' registries. */
const METRICS_TIMEOUT_MS = 8000
const NO_METRICS = '# node metrics unavailable: the primary did not answer in time\n'

export class PrimaryLink implements QuotaSource {
  /** Redis TIME − this host's clock, as the primary last measured it */
  clockOffsetMs = 0
  private readonly requests = new Requests()

  constructor(
    private readonly channel: Channel<ToPrimary, ToWorker>,
    private readonly redisTimeoutMs: number,
  ) {}

  readonly send = (msg: ToPrimary): void => this.channel.send(msg)

  need(saleId: string, have: number, inflight: number, parked: number): void {
    this.send({ t: 'need', saleId, have, inflight, parked })
  }

  soldOut(saleId: string): void {
    this.send({ t: 'sold-out', saleId })
  }

  /** This worker listens: the primary sends it every sale and counts it as started. */
  ready(): void {
    this.send({ t: 'ready' })
  }

  /** Tell the primary a sale changed; resolves when every worker of the node has the new copy. */
  readonly changed = (saleId: string): Promise<void> =>
    this.requests.ask(
      (ask) => this.send({ t: 'changed', ask, saleId }),
      this.redisTimeoutMs + CHANGED_MARGIN_MS,
      undefined,
    )

  /** The node's metrics, aggregated over its workers by the primary. */
  readonly metrics = (): Promise<string> =>
    this.requests.ask((ask) => this.send({ t: 'metrics', ask }), METRICS_TIMEOUT_MS, NO_METRICS)

  /** Route the primary's messages to this worker's desks, rate limits and dashboard listeners. */
  listen(desks: Desks, rate: RateLimits, dashboard: (json: string) => void): void {
    this.channel.listen((msg) => {
      switch (msg.t) {
        case 'sale':
          this.clockOffsetMs = msg.clockOffsetMs
          desks.upsert(msg.sale)
          if (msg.ask !== undefined) this.send({ t: 'answer', ask: msg.ask })
          break
        case 'grant':
          desks.get(msg.saleId)?.grant(msg.units, msg.soldOut, msg.returned)
          break
        case 'release': {
          const desk = desks.get(msg.saleId)
          const units = desk ? desk.release(msg.units) : 0
          this.send({
            t: 'released',
            saleId: msg.saleId,
            units,
            have: desk?.quota ?? 0,
            inflight: desk?.inflight ?? 0,
          })
          break
        }
        case 'rate-over':
          rate[msg.kind].block(msg.window, msg.keys)
          break
        case 'view':
          this.send({ t: 'answer', ask: msg.ask, value: desks.view(msg.saleId) })
          break
        case 'dashboard':
          dashboard(msg.json)
          break
        case 'answer':
          this.requests.settle(msg)
          break
      }
    })
  }
}
