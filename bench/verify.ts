import { type Check, check } from './checks'
import { until } from './harness/poll'
import type { StoreFixture } from './harness/store-fixture'
import type { LoadResult } from './load/load-spec'
import { type Plan, SALE_ID } from './scenarios'

/**
 * What seckill did during a scenario, checked through its API and PostgreSQL after the load:
 * every unit sold is an order in PostgreSQL exactly once, no more were sold than the stock or the
 * answers allow, and (storm) no user holds two orders.
 */
// The order writer keeps up with a sale within tens of milliseconds (bench:writer); a minute is
// room for a slow machine, not an expectation.
const WRITE_TIMEOUT_MS = 60_000
const POLL_MS = 20

export interface Verification {
  readonly checks: Check[]
  /** units sold during the load, per the API */
  readonly sold: number
  /** orders of the load in PostgreSQL (without the units bought before it) */
  readonly ordersInPg: number
  /** from the start of the load to the last sale (Redis clock) and the last row in PostgreSQL */
  readonly lastSaleMs: number | null
  readonly lastOrderInPgMs: number | null
}

interface SaleView {
  state: string
  sold: number
  remaining: number
}

async function saleView(port: number): Promise<SaleView> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/sales/${SALE_ID}`)
  if (!res.ok) throw new Error(`GET /api/v1/sales/${SALE_ID}: ${res.status} ${await res.text()}`)
  return (await res.json()) as SaleView
}

async function countInPg(st: StoreFixture): Promise<number> {
  const r = await st.pg.query('SELECT count(*)::int AS n FROM orders WHERE sale_id = $1', [SALE_ID])
  return r.rows[0].n as number
}

export async function verify(
  plan: Plan,
  r: LoadResult,
  port: number,
  st: StoreFixture,
  loadStartedAt: number,
): Promise<Verification> {
  const checks: Check[] = []
  // The API answers from a worker's copy, up to 1 s old; the sale's hash is the source.
  await new Promise((res) => setTimeout(res, 1100))
  const view = await saleView(port)
  const sold = view.sold - plan.presold
  const { load } = plan

  if (plan.name === 'page') {
    checks.push(check('nothing sold by reading the state', sold === 0, `${sold} units sold`))
  } else if (plan.presold > 0) {
    checks.push(check('nothing sold on a sold-out sale', sold === 0, `${sold} units sold`))
  } else if (load.amount !== undefined) {
    const expect = Math.min(plan.stock, load.amount)
    checks.push(
      check(
        'sold exactly min(stock, requests)',
        sold === expect,
        `${sold} sold, ${expect} expected`,
      ),
    )
  } else {
    // Closed loop for a duration: requests in flight when the run stops are sold but not counted.
    // Open loop: every request is answered, the warm-up's too (they buy, unrecorded).
    const slack = plan.openLoop ? 0 : load.connections
    const answers = r.requests + (r.warmupRequests ?? 0)
    checks.push(
      check(
        'every answer a sale',
        sold >= answers && sold <= answers + slack,
        `${sold} sold for ${answers} answers (${slack} may be in flight at the stop)`,
      ),
    )
  }
  if (r.wins !== null) {
    checks.push(
      check(
        'clients told of every sale, once',
        r.wins + (r.warmupWins ?? 0) === sold,
        `${r.wins} wins answered (and ${r.warmupWins ?? 0} in the warm-up), ${sold} sold`,
      ),
    )
  }
  if (load.amount !== undefined && plan.stock <= load.amount) {
    checks.push(
      check(
        'sale sold out',
        view.state === 'sold_out' && view.remaining === 0,
        `${view.state}, ${view.remaining} left`,
      ),
    )
  }

  let inPg = 0
  const counted = async () => {
    inPg = await countInPg(st)
    return inPg >= view.sold
  }
  await until(counted, { timeoutMs: WRITE_TIMEOUT_MS, everyMs: POLL_MS })
  checks.push(
    check(
      'every order in PostgreSQL once',
      inPg === view.sold,
      `${inPg} rows for ${view.sold} units sold`,
    ),
  )

  const q = await st.pg.query(
    `SELECT count(DISTINCT user_id)::int AS users, count(*)::int AS n,
            coalesce(sum(quantity), 0)::int AS units,
            (extract(epoch FROM max(created_at)) * 1000)::float8 AS last_sale,
            (extract(epoch FROM max(written_at)) * 1000)::float8 AS last_write
       FROM orders WHERE sale_id = $1`,
    [SALE_ID],
  )
  const row = q.rows[0] as {
    users: number
    n: number
    units: number
    last_sale: number | null
    last_write: number | null
  }
  checks.push(
    check('one unit per order', row.units === row.n, `${row.units} units in ${row.n} orders`),
  )
  if (load.distinctUsers) {
    checks.push(
      check('no user twice', row.users === row.n, `${row.users} users hold ${row.n} orders`),
    )
  }
  const since = (t: number | null) => (t === null ? null : Math.round(t - loadStartedAt))
  return {
    checks,
    sold,
    ordersInPg: inPg - plan.presold,
    lastSaleMs: sold > 0 ? since(row.last_sale) : null,
    lastOrderInPgMs: sold > 0 ? since(row.last_write) : null,
  }
}
