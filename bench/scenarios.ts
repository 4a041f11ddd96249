import type { LoadSpec } from './load/load-spec'
import { USER_PLACEHOLDER } from './load/load-spec'

/**
 * The scenarios of the benchmark suite. Every one but `page` loads `/buy/ticket`, the route the Go reference
 * server also has, so the same requests go to the baseline, to seckill and to a `--target`.
 */
export const SCENARIOS = [
  'seed',
  'refuse',
  'sell',
  'close',
  'latency',
  'storm',
  'ab',
  'ab-k',
  'nodes',
  'page',
] as const
export type ScenarioName = (typeof SCENARIOS)[number]

/**
 * What runs when no scenario is named: all but `nodes`, which starts nginx and several nodes, and
 * `page`, which loads the product page's state JSON rather than a purchase; both are run by name
 * (`--scenario nodes`, `--scenario page`).
 */
export const DEFAULT_SCENARIOS = SCENARIOS.filter((n) => n !== 'nodes' && n !== 'page')

/** The fleets of the `nodes` scenario: 1, 2 and 3 nodes behind nginx. */
export const FLEET_SIZES = [1, 2, 3] as const

export const SALE_ID = 'bench'
const WIN_BODY = `{"code":1,"msg":"抢票成功","data":{"orderId":"${SALE_ID}.AAAAAAAAAAAAAAAA"}}`
const REFUSED_BODY = '{"code":-1,"msg":"已售罄"}'
/** GET /api/v1/sales/bench/state on an open sale: what the baseline answers in `page`. */
const STATE_BODY =
  '{"state":"open","remaining":10000,"serverTime":1764709200000,"startsAt":null,"endsAt":null}'

/** What a run is asked for on the command line (already validated). */
export interface Knobs {
  readonly quick: boolean
  readonly connections: number | null
  readonly duration: number | null
  readonly rate: number | null
  readonly requests: number | null
  readonly stock: number | null
}

export interface Plan {
  readonly name: ScenarioName
  /** one line: what is measured, in the report */
  readonly title: string
  /** the load, without the server's origin */
  readonly load: Omit<LoadSpec, 'origin' | 'label'>
  /** a fixed-rate run (latency) rather than a closed loop */
  readonly openLoop: boolean
  /**
   * loaded by ApacheBench through nginx from the shipped lvs/nginx/nginx.conf, one nginx in front
   * of each server: ab speaks only HTTP/1.0, which uWebSockets.js does not answer
   */
  readonly ab: boolean
  /** what the bare baseline answers: seckill's most frequent answer in this scenario */
  readonly baselineBody: string
  /** the sale's stock on seckill */
  readonly stock: number
  /** units bought before the load starts (a sold-out sale for the refusal scenarios) */
  readonly presold: number
  /**
   * `nodes`: seckill is this many nodes sharing one Redis and PostgreSQL behind nginx (the
   * shipped config, equal weights), the baseline one bare uWS server behind the same nginx;
   * 0: every other scenario, the load straight at the server
   */
  readonly nodes: number
}

type Load = Plan['load']

/** A plan loading GET `path` (default /buy/ticket) in a closed loop, unless the load has a rate. */
function ticketPlan(
  name: ScenarioName,
  title: string,
  load: Omit<Load, 'method' | 'path'> & { path?: string },
  sale: { baselineBody: string; stock: number; presold: number },
): Plan {
  return {
    name,
    title,
    load: { method: 'GET', path: '/buy/ticket', ...load },
    openLoop: load.rate !== undefined,
    ab: false,
    nodes: 0,
    ...sale,
  }
}

/** The scenario's plan for these knobs: full size by hand, `quick` for CI. */
export function plan(name: ScenarioName, k: Knobs): Plan {
  const duration = k.duration ?? (k.quick ? 2 : 10)
  const connections = k.connections ?? 100
  const soldOut = { baselineBody: REFUSED_BODY, stock: 1, presold: 1 }
  const winning = { baselineBody: WIN_BODY, stock: k.stock ?? 1_000_000_000, presold: 0 }
  switch (name) {
    case 'seed': {
      // The article's experiment, `ab -n 10000 -c 100`: the same count on keep-alive HTTP/1.1.
      // 150 units, the reference server's local stock per node, so most answers are refusals.
      const amount = k.requests ?? 10_000
      const stock = k.stock ?? 150
      return ticketPlan(
        name,
        `the article's experiment: ${amount} requests, ${connections} connections, ${stock} units`,
        { connections, amount },
        { baselineBody: REFUSED_BODY, stock, presold: 0 },
      )
    }
    case 'refuse':
      return ticketPlan(
        name,
        'keep-alive load on a sold-out sale (the common case of a rush)',
        { connections, duration },
        soldOut,
      )
    case 'sell':
      return ticketPlan(
        name,
        'every request a winner: anonymous buyers, stock larger than the run',
        { connections, duration },
        winning,
      )
    case 'close':
      // `ab` without -k: one request per connection. Connection: close is its HTTP/1.1 form.
      return ticketPlan(
        name,
        'one request per connection (Connection: close) on a sold-out sale',
        { connections: k.connections ?? 50, duration, close: true },
        soldOut,
      )
    case 'latency':
      // A rate both servers sustain on 2 cores with the generator beside them: latency is
      // meaningful only below saturation.
      return ticketPlan(
        name,
        'fixed rate, every request a winner; latency from the intended send time',
        {
          connections: k.connections ?? 50,
          duration,
          rate: k.rate ?? (k.quick ? 1_000 : 5_000),
          warmup: k.quick ? 0.5 : 2,
        },
        winning,
      )
    case 'ab':
    case 'ab-k': {
      // The article's command itself, `ab -n 10000 -c 100 <url>`, and the same sale as `seed`.
      // Without -k (as in the article) ab opens a connection per request, so quick runs 2,000.
      const keepAlive = name === 'ab-k'
      const amount = k.requests ?? (k.quick ? 2_000 : 10_000)
      const stock = k.stock ?? 150
      return {
        ...ticketPlan(
          name,
          `the article's command through nginx: ab -n ${amount} -c ${connections}` +
            `${keepAlive ? ' -k' : ''}, ${stock} units`,
          { connections, amount, close: !keepAlive },
          { baselineBody: REFUSED_BODY, stock, presold: 0 },
        ),
        ab: true,
      }
    }
    case 'storm':
    case 'nodes': {
      // nodes: the storm through nginx over a fleet; the runner repeats it for each FLEET_SIZES.
      const amount = k.requests ?? (k.quick ? 20_000 : name === 'nodes' ? 300_000 : 1_000_000)
      const stock = k.stock ?? (k.quick ? 1_000 : 10_000)
      const p = ticketPlan(
        name,
        `${amount} purchase requests from ${amount} distinct users for ${stock} units`,
        {
          path: `/buy/ticket?user=u${USER_PLACEHOLDER}`,
          distinctUsers: true,
          connections,
          amount,
        },
        { baselineBody: REFUSED_BODY, stock, presold: 0 },
      )
      return name === 'nodes' ? { ...p, nodes: 1 } : p
    }
    case 'page':
      // The product page's refresh storm: every open page polls this JSON once a second. Nothing
      // is bought; the worker answers from memory, the baseline with the same-sized body.
      return ticketPlan(
        name,
        'the product page polling its sale: GET /api/v1/sales/bench/state, keep-alive',
        { path: `/api/v1/sales/${SALE_ID}/state`, connections, duration },
        { baselineBody: STATE_BODY, stock: k.stock ?? 10_000, presold: 0 },
      )
  }
}
