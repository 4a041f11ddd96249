import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { openSale } from './harness/admin'
import { ownRedis } from './harness/own-redis'
import { until } from './harness/poll'
import { cpuMeter, type ProcessGroup, processesNamed } from './harness/proc-cpu'
import { startSeckill } from './harness/servers'
import { childPids, freePort } from './harness/spawn'
import { storeFixture } from './harness/store-fixture'
import { Teardowns } from './harness/teardown'
import { USER_PLACEHOLDER } from './load/load-spec'
import { runWrk, wrkInstalled } from './load/wrk'

/**
 * What one sold order costs in CPU, in every process that handles it: a sale of --orders units,
 * as many purchase requests from as many distinct buyers (`/buy/ticket?user=…`, so every request
 * is a winner and the per-user limit is checked), sent by wrk; the CPU each process used from
 * just before the load until the last order is in PostgreSQL, from /proc (user + system, every
 * thread), divided by the orders:
 *
 * - the primary (its order writer and expiry sweep threads included), each worker;
 * - Redis: a redis-server of the benchmark's own, so no other client's commands count;
 * - PostgreSQL: every process named postgres (the node's backends, the WAL writer, the
 *   checkpointer), so run it on an otherwise quiet machine.
 *
 * wrk's own CPU is left out: it is the buyers'. `--node-dir` runs the node from another built
 * checkout (`git worktree add /tmp/old <rev> && cd /tmp/old && npm ci && npm run build`), to
 * compare versions on the same machine in the same minute.
 *
 *   node dist/bench/cpu-per-order.js [--orders 50000] [--connections 100] [--workers 2]
 *     [--node-dir DIR] [--json]
 */
const SALE_ID = 'cpu'
// The writer keeps up within tens of milliseconds; a minute is room for a slow machine.
const WRITE_TIMEOUT_MS = 60_000
const POLL_MS = 50
const SETTLE_MS = 2000
const COMMAND_STAT = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      orders: { type: 'string', default: '50000' },
      connections: { type: 'string', default: '100' },
      workers: { type: 'string', default: '2' },
      'node-dir': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  })
  const orders = wholeNumber('orders', values.orders, 1, 10_000_000)
  const connections = wholeNumber('connections', values.connections, 1, 10_000)
  const workers = wholeNumber('workers', values.workers, 1, 64)
  if (!wrkInstalled()) throw new Error('wrk is not installed (apt-get install wrk)')
  const root = values['node-dir'] === undefined ? undefined : resolve(values['node-dir'])

  const t = new Teardowns()
  try {
    const own = await ownRedis(t)
    const stores = storeFixture(t, { tag: 'bench', redisUrl: own.url })
    const port = await freePort()
    const node = await startSeckill(t, { port, workers, env: stores.env(), root })
    await openSale(port, SALE_ID, orders)
    await new Promise((r) => setTimeout(r, SETTLE_MS))

    const primary = node.proc.pid!
    const redisPid = Number(/process_id:(\d+)/.exec(await stores.redis.info('server'))?.[1])
    const groups: ProcessGroup[] = [
      ['primary', () => [primary]],
      ...childPids(primary).map((w, i): ProcessGroup => [`worker ${i}`, () => [w]]),
      ['redis', () => [redisPid]],
      ['postgres', () => processesNamed('postgres')],
    ]
    await stores.redis.config('RESETSTAT')
    const used = cpuMeter(groups)
    const t0 = Date.now()
    const load = await runWrk(
      {
        origin: `http://127.0.0.1:${port}`,
        method: 'GET',
        path: `/buy/ticket?user=u${USER_PLACEHOLDER}`,
        distinctUsers: true,
        connections,
        amount: orders,
        label: 'buying',
      },
      1,
    )
    const inPg = async () =>
      (await stores.pg.query('SELECT count(*)::int AS n FROM orders WHERE sale_id = $1', [SALE_ID]))
        .rows[0].n as number
    const waited = await until(async () => (await inPg()) >= orders, {
      timeoutMs: WRITE_TIMEOUT_MS,
      everyMs: POLL_MS,
    })
    const seconds = (Date.now() - t0) / 1000
    const rows = used()
    if (waited < 0) throw new Error(`${await inPg()} of ${orders} orders in PostgreSQL after 60 s`)
    // Nothing here may count a run that did not sell exactly what it says.
    if (load.wins !== orders || load.non2xx !== 0 || load.errors !== 0) {
      throw new Error(
        `the load was not ${orders} winners: ${load.wins} wins, ${load.non2xx} non-2xx, ` +
          `${load.errors} errors`,
      )
    }
    const written = await inPg()
    if (written !== orders) throw new Error(`${written} orders in PostgreSQL, ${orders} sold`)

    const perOrder = rows.map((r) => ({
      process: r.process,
      cpuSeconds: round(r.cpuSeconds, 2),
      usPerOrder: round((r.cpuSeconds / orders) * 1e6, 1),
    }))
    // What Redis did for them, command by command (the scripts' inner calls counted as well).
    const commands = [...(await stores.redis.info('commandstats')).matchAll(COMMAND_STAT)]
      .map(([, name, calls, usec]) => ({
        command: name!,
        perOrder: round(Number(calls) / orders, 3),
        usPerOrder: round(Number(usec) / orders, 2),
      }))
      .filter((c) => c.perOrder >= 0.001)
      .sort((a, b) => b.usPerOrder - a.usPerOrder)
    const totalUs = round(
      perOrder.reduce((s, r) => s + r.usPerOrder, 0),
      1,
    )
    const result = {
      orders,
      node: root ?? 'this checkout',
      seconds: round(seconds, 2),
      ordersPerSecond: Math.round(orders / seconds),
      rows: perOrder,
      totalUsPerOrder: totalUs,
      redisCommands: commands,
    }
    if (values.json) process.stdout.write(`cpu-per-order-result ${JSON.stringify(result)}\n`)
    else {
      process.stdout.write(
        `${orders} orders (${result.node}), sold and in PostgreSQL in ${result.seconds} s ` +
          `(${result.ordersPerSecond}/s):\n` +
          perOrder
            .map(
              (r) =>
                `  ${r.process.padEnd(9)} ${String(r.cpuSeconds).padStart(6)} CPU s, ` +
                `${r.usPerOrder} µs per order`,
            )
            .join('\n') +
          `\n  total     ${totalUs} µs of CPU per order\n` +
          'Redis commands per order (calls, µs inside Redis):\n' +
          commands
            .map(
              (c) =>
                `  ${c.command.padEnd(12)} ${String(c.perOrder).padStart(7)}  ${c.usPerOrder} µs`,
            )
            .join('\n') +
          '\n',
      )
    }
  } finally {
    await t.run()
  }
}

function wholeNumber(name: string, v: string | undefined, min: number, max: number): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new Error(`--${name} must be a whole number from ${min} to ${max}, not "${v}"`)
  }
  return n
}

function round(x: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

main().catch((err: Error) => {
  process.stderr.write(`cpu-per-order: ${err.stack ?? err.message}\n`)
  process.exit(1)
})
