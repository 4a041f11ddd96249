import { AggregatorRegistry, Counter, Gauge, Histogram, register } from 'prom-client'
import type { Outcome } from './purchase/attempt'

/**
 * A worker's metrics (prom-client). The primary aggregates every worker's registry for
 * GET /metrics (cluster IPC); constructing the AggregatorRegistry here is what makes this worker
 * answer the primary's requests.
 */
new AggregatorRegistry()

export const batchSize = new Histogram({
  name: 'seckill_batch_size',
  help: 'attempts per reserve-6.lua call',
  buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000],
})

/**
 * Answers counted in plain integers on the hot path and handed to prom-client at scrape time:
 * even a pre-bound child's inc() hashes its labels on every call (9 % of a refusal's JavaScript
 * time in a CPU profile of the refuse load).
 */
const byWorker = new Map<Outcome, number>()
const byRedis = new Map<Outcome, number>()

new Counter({
  name: 'seckill_purchase_answers_total',
  help: 'purchase attempts answered, by outcome and by who decided (worker memory or Redis)',
  labelNames: ['outcome', 'decided_by'] as const,
  collect() {
    this.reset()
    for (const [outcome, n] of byWorker) this.labels(outcome, 'worker').inc(n)
    for (const [outcome, n] of byRedis) this.labels(outcome, 'redis').inc(n)
  },
})

export function countAnswer(outcome: Outcome, decidedByRedis: boolean): void {
  const counts = decidedByRedis ? byRedis : byWorker
  counts.set(outcome, (counts.get(outcome) ?? 0) + 1)
}

/** What the gauges read at scrape time: per sale, unused quota and waiting attempts. */
export interface DeskSample {
  readonly id: string
  readonly quota: number
  readonly parked: number
}
let sampleDesks: () => Iterable<DeskSample> = () => []

export function setDeskSource(source: () => Iterable<DeskSample>): void {
  sampleDesks = source
}

/** A per-sale gauge read from the desks at scrape time. */
function deskGauge(name: string, help: string, read: (d: DeskSample) => number): void {
  new Gauge({
    name,
    help,
    labelNames: ['sale'] as const,
    collect() {
      this.reset()
      for (const d of sampleDesks()) this.labels(d.id).set(read(d))
    },
  })
}

deskGauge('seckill_quota_units', 'stock quota units held unused by the workers', (d) => d.quota)
deskGauge('seckill_parked_attempts', 'attempts waiting for stock quota', (d) => d.parked)

export { register }
