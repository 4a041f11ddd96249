import type { ChildProcess } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { histogram, openSale, start as startAt, stop, stores } from './harness'

/**
 * The core engine's numbers, measured against a bare uWS server in the same run:
 *   refuse  - keep-alive GET /buy/ticket on a sold-out sale (the common case of a rush)
 *   sell    - keep-alive GET /buy/ticket where every request wins (huge stock, anonymous),
 *             once with the Piscina thread (RESERVE_MODE=piscina) and once inline
 * Load generator: autocannon, in this process, on the same cores as the servers.
 *
 *   npm run bench:core -- [--duration 10] [--connections 100] [--workers 2]
 */
const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '100' },
    workers: { type: 'string', default: '2' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    database: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
  },
})
const DURATION = Number(args.duration)
const CONNECTIONS = Number(args.connections)
const WORKERS = Number(args.workers)
const PORT = 3071

interface Row {
  scenario: string
  reqPerSec: number
  p50: number
  p99: number
  non2xx: number
  errors: number
  note: string
}

function start(script: string, env: Record<string, string>, readyText: string) {
  return startAt(script, PORT, WORKERS, env, readyText)
}

async function load(path: string): Promise<autocannon.Result> {
  return autocannon({
    url: `http://127.0.0.1:${PORT}${path}`,
    connections: CONNECTIONS,
    duration: DURATION,
  })
}

function row(scenario: string, r: autocannon.Result, note = ''): Row {
  return {
    scenario,
    reqPerSec: Math.round(r.requests.average),
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
    note,
  }
}

async function batchNote(): Promise<string> {
  const text = await (await fetch(`http://127.0.0.1:${PORT}/metrics`)).text()
  const h = histogram(text, 'seckill_batch_size')
  return `${h.count} batches, mean ${h.mean.toFixed(1)} attempts, median <= ${h.median}`
}

async function seckill(
  storeEnv: Record<string, string>,
  env: Record<string, string>,
  scenario: (p: ChildProcess) => Promise<Row>,
): Promise<Row> {
  const proc = await start('cluster/primary.js', { ...storeEnv, ...env }, 'seckill is serving')
  try {
    return await scenario(proc)
  } finally {
    await stop(proc)
  }
}

async function main(): Promise<void> {
  const step = (s: string) => process.stderr.write(`bench: ${s}\n`)
  const rows: Row[] = []
  // One prefix and schema per server run: each starts from an empty sale list.
  const runs = [1, 2, 3].map(() => stores(args.redis!, args.database!))
  try {
    step('baseline')
    const bare = await start('bench/bare-uws.js', {}, 'bare uWS serving')
    rows.push(row('bare uWS (baseline)', await load('/buy/ticket')))
    await stop(bare)
    step('refuse')

    rows.push(
      await seckill(runs[0]!.env(), {}, async () => {
        await openSale(PORT, 'gone', 1)
        await fetch(`http://127.0.0.1:${PORT}/buy/ticket`)
        await new Promise((r) => setTimeout(r, 300))
        return row('refuse (sold out)', await load('/buy/ticket'))
      }),
    )
    for (const [i, mode] of (['piscina', 'inline'] as const).entries()) {
      step(`sell ${mode}`)
      rows.push(
        await seckill(runs[i + 1]!.env(), { RESERVE_MODE: mode }, async () => {
          await openSale(PORT, 'big', 1e9)
          const r = await load('/buy/ticket')
          return row(`sell (${mode})`, r, await batchNote())
        }),
      )
    }
  } finally {
    for (const r of runs) await r.cleanup()
  }

  const base = rows[0]!.reqPerSec
  console.log(
    `\nseckill core benchmark: ${availableParallelism()} cores, ${WORKERS} workers, autocannon ` +
      `${CONNECTIONS} connections x ${DURATION} s, keep-alive, GET /buy/ticket\n`,
  )
  console.table(
    rows.map((r) => ({
      scenario: r.scenario,
      'req/s': r.reqPerSec,
      'x baseline': (r.reqPerSec / base).toFixed(2),
      'p50 ms': r.p50,
      'p99 ms': r.p99,
      non2xx: r.non2xx,
      errors: r.errors,
      batches: r.note,
    })),
  )
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
