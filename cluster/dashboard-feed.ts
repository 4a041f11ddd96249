import type { WorkerStatus } from '../src/control/protocol'
import type { SaleRecord } from '../src/sale/sale-record'
import { saleView } from '../src/sale/sale-record'

/**
 * The live dashboard's data (GET /dashboard): one JSON snapshot of the node per second, built
 * here in the primary and only while some worker has a dashboard connected. Workers relay the
 * same string to their listeners; nothing is counted or sent per purchase request. The snapshot
 * reads what the node already keeps: the aggregated /metrics text (the one IPC round to every
 * worker a Prometheus scrape costs), the sale copies of the sale watch, the worker board.
 */

/** One second: the issue asks for an update at least once a second. */
export const SNAPSHOT_MS = 1000

export interface FeedSources {
  readonly node: string
  /** the node's /metrics text (workers aggregated, then the primary's own) */
  metrics(): Promise<string>
  sales(): Iterable<SaleRecord>
  workers(now: number): WorkerStatus[]
  /** send the snapshot (a JSON string) to every worker that has a listener */
  publish(json: string): void
}

/** A Prometheus text sample: the metric's name, its labels, its value. */
interface Sample {
  readonly name: string
  readonly labels: Record<string, string>
  readonly value: number
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/** The samples of the named metrics in a Prometheus text exposition (others skipped). */
export function parseSamples(text: string, names: ReadonlySet<string>): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = LINE.exec(line)
    if (!m || !names.has(m[1] as string)) continue
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1] as string] = l[2] as string
    out.push({ name: m[1] as string, labels, value: Number(m[3]) })
  }
  return out
}

const ANSWERS = 'seckill_purchase_answers_total'
const WRITTEN = 'seckill_orders_written_total'
const BACKLOG = 'seckill_writer_backlog_entries'
const LAG = 'seckill_writer_lag_seconds'
const DRIFT = 'seckill_drift'
const WANTED = new Set([ANSWERS, WRITTEN, BACKLOG, LAG, DRIFT])

export interface Snapshot {
  readonly node: string
  readonly at: string
  /** answers per second by outcome since the previous snapshot (all deciders summed) */
  readonly answersPerSecond: Record<string, number>
  readonly requestsPerSecond: number
  readonly ordersWritten: number
  readonly ordersWrittenPerSecond: number
  /** the largest per-sale lag, and the sum of the per-sale backlogs */
  readonly writerLagSeconds: number
  readonly writerBacklog: number
  /** differences found by the last reconciliation, summed over sales, by kind */
  readonly drift: Record<string, number>
  readonly sales: { id: string; state: string; stock: number; sold: number; remaining: number }[]
  readonly workers: {
    slot: number
    pid: number
    quota: number
    inflight: number
    parked: number
    requestsPerSecond: number
  }[]
}

export class DashboardFeed {
  private readonly listening = new Set<number>()
  private timer: NodeJS.Timeout | null = null
  private building = false
  private last: { at: number; answers: Map<string, number>; written: number } | null = null
  /** the latest snapshot as pushed (with the fleet), for a listener that arrives between two */
  latest: string | null = null
  /** the latest snapshot of this node alone, for the fleet's key in Redis */
  latestOwn: string | null = null
  /** the other nodes' latest snapshots (cluster/dashboard-fleet.ts), pushed along with ours */
  fleet: unknown[] = []

  constructor(private readonly src: FeedSources) {}

  /** A worker now has (on) or no longer has (off) a dashboard connected. */
  watch(workerId: number, on: boolean): void {
    if (on) this.listening.add(workerId)
    else this.listening.delete(workerId)
    if (this.listening.size > 0 && this.timer === null) {
      this.timer = setInterval(() => this.tick(), SNAPSHOT_MS)
      this.tick()
    } else if (this.listening.size === 0 && this.timer !== null) {
      clearInterval(this.timer)
      this.timer = null
      // Rates restart from the next listener's first snapshot, not from a stale baseline.
      this.last = null
      this.latest = null
      this.latestOwn = null
      this.fleet = []
    }
  }

  /** Some worker of this node has a listener. */
  get listened(): boolean {
    return this.listening.size > 0
  }

  /** Which workers listen (the hub sends them the snapshot). */
  isListening(workerId: number): boolean {
    return this.listening.has(workerId)
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  private tick(): void {
    // A slow metrics round (a worker busy for over a second) skips a beat rather than piling up.
    if (this.building) return
    this.building = true
    this.build()
      .then((s) => {
        if (this.timer === null) return
        this.latestOwn = JSON.stringify(s)
        this.latest = JSON.stringify({ ...s, fleet: this.fleet })
        this.src.publish(this.latest)
      })
      .catch(() => {})
      .finally(() => {
        this.building = false
      })
  }

  async build(): Promise<Snapshot> {
    const text = await this.src.metrics()
    const now = Date.now()
    const answers = new Map<string, number>()
    let written = 0
    let lag = 0
    let backlog = 0
    const drift: Record<string, number> = {}
    for (const s of parseSamples(text, WANTED)) {
      if (s.name === ANSWERS) {
        const outcome = s.labels.outcome ?? 'unknown'
        answers.set(outcome, (answers.get(outcome) ?? 0) + s.value)
      } else if (s.name === WRITTEN) written += s.value
      else if (s.name === BACKLOG) backlog += s.value
      else if (s.name === LAG) lag = Math.max(lag, s.value)
      else if (s.name === DRIFT) {
        const kind = s.labels.kind ?? 'unknown'
        drift[kind] = (drift[kind] ?? 0) + s.value
      }
    }
    const prev = this.last
    const seconds = prev ? Math.max(0.001, (now - prev.at) / 1000) : 1
    const answersPerSecond: Record<string, number> = {}
    let requestsPerSecond = 0
    for (const [outcome, n] of answers) {
      // A worker replaced since the last snapshot restarts its counters: never a negative rate.
      const rate = prev ? Math.max(0, n - (prev.answers.get(outcome) ?? 0)) / seconds : 0
      answersPerSecond[outcome] = Math.round(rate)
      requestsPerSecond += rate
    }
    this.last = { at: now, answers, written }
    return {
      node: this.src.node,
      at: new Date(now).toISOString(),
      answersPerSecond,
      requestsPerSecond: Math.round(requestsPerSecond),
      ordersWritten: written,
      ordersWrittenPerSecond: prev ? Math.round(Math.max(0, written - prev.written) / seconds) : 0,
      writerLagSeconds: lag,
      writerBacklog: backlog,
      drift,
      sales: Array.from(this.src.sales(), (r) => {
        const v = saleView(r, now)
        return { id: v.id, state: v.state, stock: v.stock, sold: v.sold, remaining: v.remaining }
      }).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
      workers: this.src.workers(now).map((w) => ({
        slot: w.slot,
        pid: w.pid,
        quota: w.quota,
        inflight: w.inflight,
        parked: w.parked,
        requestsPerSecond: w.requestsPerSecond,
      })),
    }
  }
}
