import t from 'tap'
import { grantFor, type Report, type WorkerId } from '../../cluster/quota-lessor'

/**
 * The quota lessor's decision without Redis: `grantFor(sale, reports, worker, parked, chunk,
 * liveWorkers)`. Reports are what each worker of the node last said it holds and has in flight;
 * the asking worker's own report is among them.
 */
const reports = (...r: [WorkerId, number, number][]): Map<WorkerId, Report> =>
  new Map(r.map(([id, have, inflight]) => [id, { have, inflight }]))

const rows: {
  should: string
  sale: { remaining: number; returned: number } | null
  reports: Map<WorkerId, Report>
  parked?: number
  chunk?: number
  live?: number
  grant: ReturnType<typeof grantFor>
}[] = [
  {
    should: 'grants nothing, not sold out, for a sale Redis does not have',
    sale: null,
    reports: reports([1, 0, 0]),
    grant: { units: 0, soldOut: false, returned: 0 },
  },
  {
    should: 'says sold out when Redis has nothing left, with the returned counter it read',
    sale: { remaining: 0, returned: 7 },
    reports: reports([1, 0, 0]),
    grant: { units: 0, soldOut: true, returned: 7 },
  },
  {
    should: 'grants the fair share of what Redis has left when it is the smallest cap',
    sale: { remaining: 10, returned: 0 },
    reports: reports([1, 0, 0]),
    live: 3,
    grant: { units: 4, soldOut: false, returned: 0 },
  },
  {
    should: 'grants at most the chunk',
    sale: { remaining: 1000, returned: 0 },
    reports: reports([1, 0, 0]),
    chunk: 50,
    live: 2,
    grant: { units: 50, soldOut: false, returned: 0 },
  },
  {
    should: 'grants at most what no worker holds or has in flight',
    sale: { remaining: 10, returned: 0 },
    reports: reports([1, 0, 0], [2, 6, 2]),
    live: 1,
    grant: { units: 2, soldOut: false, returned: 0 },
  },
  {
    should: 'grants nothing and asks nobody when the pool is empty and nobody waits',
    sale: { remaining: 10, returned: 0 },
    reports: reports([1, 0, 0], [2, 10, 0]),
    parked: 0,
    grant: { units: 0, soldOut: false, returned: 0 },
  },
  {
    should: 'asks the worker holding the most unused quota for half of it when buyers wait',
    sale: { remaining: 12, returned: 0 },
    reports: reports([1, 0, 2], [2, 3, 0], [3, 7, 0]),
    parked: 4,
    grant: { units: 0, soldOut: false, returned: 0, release: { worker: 3, units: 4 } },
  },
  {
    should: 'asks a worker with only attempts in flight for 0 units, so it reports afresh',
    sale: { remaining: 5, returned: 0 },
    reports: reports([1, 0, 0], [2, 0, 5]),
    parked: 1,
    grant: { units: 0, soldOut: false, returned: 0, release: { worker: 2, units: 0 } },
  },
  {
    should: 'never asks the waiting worker itself',
    sale: { remaining: 5, returned: 0 },
    reports: reports([1, 5, 0]),
    parked: 3,
    grant: { units: 0, soldOut: false, returned: 0 },
  },
]

for (const row of rows) {
  t.test(row.should, async (t) => {
    t.strictSame(
      grantFor(row.sale, row.reports, 1, row.parked ?? 0, row.chunk ?? 500, row.live ?? 2),
      row.grant,
    )
  })
}
