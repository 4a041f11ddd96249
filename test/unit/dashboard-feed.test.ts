import t from 'tap'
import { DashboardFeed, parseSamples } from '../../cluster/dashboard-feed'
import type { SaleRecord } from '../../src/sale/sale-record'

/** The dashboard's snapshot built from a node's metrics text, without a node. */

const SALE: SaleRecord = {
  id: 'a',
  name: 'A',
  stock: 10,
  sold: 4,
  perUserLimit: 1,
  startsAt: null,
  endsAt: null,
  paymentTtlSeconds: 300,
  started: true,
  closed: false,
  returned: 0,
  createdAt: 0,
}

function metricsText(reserved: number, soldOut: number, written: number): string {
  return [
    '# HELP seckill_purchase_answers_total purchase attempts answered',
    '# TYPE seckill_purchase_answers_total counter',
    `seckill_purchase_answers_total{outcome="reserved",decided_by="redis"} ${reserved}`,
    `seckill_purchase_answers_total{outcome="sold_out",decided_by="worker"} ${soldOut}`,
    `seckill_purchase_answers_total{outcome="sold_out",decided_by="redis"} 1`,
    `seckill_orders_written_total ${written}`,
    'seckill_writer_backlog_entries{sale="a"} 3',
    'seckill_writer_backlog_entries{sale="b"} 2',
    'seckill_writer_lag_seconds{sale="a"} 0.25',
    'seckill_writer_lag_seconds{sale="b"} 1.5',
    'seckill_drift{sale="a",kind="missing_in_pg"} 2',
    'seckill_batch_size_bucket{le="1"} 7',
    '',
  ].join('\n')
}

t.test('parseSamples reads the named metrics with their labels and skips the rest', async (t) => {
  const s = parseSamples(
    metricsText(5, 6, 7),
    new Set(['seckill_drift', 'seckill_orders_written_total']),
  )
  t.same(s, [
    { name: 'seckill_orders_written_total', labels: {}, value: 7 },
    { name: 'seckill_drift', labels: { sale: 'a', kind: 'missing_in_pg' }, value: 2 },
  ])
})

t.test('a snapshot sums answers over deciders, and rates are deltas per second', async (t) => {
  let text = metricsText(0, 0, 0)
  let now = 1_000_000
  const realNow = Date.now
  Date.now = () => now
  t.teardown(() => {
    Date.now = realNow
  })
  const feed = new DashboardFeed({
    node: 'n1',
    metrics: async () => text,
    sales: () => [SALE],
    workers: () => [],
    publish: () => {},
  })
  const first = await feed.build()
  t.same(first.answersPerSecond, { reserved: 0, sold_out: 0 }, 'no rate without a baseline')
  t.equal(first.writerBacklog, 5, 'backlog summed over sales')
  t.equal(first.writerLagSeconds, 1.5, 'lag: the worst sale')
  t.same(first.drift, { missing_in_pg: 2 })
  t.same(first.sales, [{ id: 'a', state: 'open', stock: 10, sold: 4, remaining: 6 }])

  text = metricsText(200, 1000, 150)
  now += 2000
  const second = await feed.build()
  t.same(second.answersPerSecond, { reserved: 100, sold_out: 500 })
  t.equal(second.requestsPerSecond, 600)
  t.equal(second.ordersWritten, 150)
  t.equal(second.ordersWrittenPerSecond, 75)

  // A worker replaced: its counters restart lower. The rate is 0, never negative.
  text = metricsText(50, 1000, 150)
  now += 1000
  t.equal((await feed.build()).answersPerSecond.reserved, 0)
})

t.test('snapshots are built only while some worker has a listener', async (t) => {
  let built = 0
  const sent: string[] = []
  const feed = new DashboardFeed({
    node: 'n1',
    metrics: async () => {
      built++
      return ''
    },
    sales: () => [],
    workers: () => [],
    publish: (json) => sent.push(json),
  })
  t.teardown(() => feed.stop())
  await new Promise((r) => setTimeout(r, 50))
  t.equal(built, 0, 'nothing while nobody listens')
  feed.watch(1, true)
  feed.watch(2, true)
  await new Promise((r) => setTimeout(r, 50))
  t.equal(built, 1, 'the first listener gets a snapshot at once')
  t.equal(sent.length, 1)
  feed.watch(1, false)
  t.ok(feed.isListening(2))
  feed.watch(2, false)
  await new Promise((r) => setTimeout(r, 1200))
  t.equal(built, 1, 'nothing once the last listener left')
  t.equal(feed.latest, null)
})
