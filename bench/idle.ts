import { parseArgs } from 'node:util'
import { admin } from './harness/admin'
import { ownRedis } from './harness/own-redis'
import { cpuMeter, type ProcessGroup, processesNamed } from './harness/proc-cpu'
import { startSeckill } from './harness/servers'
import { childPids, freePort } from './harness/spawn'
import { REDIS_URL, storeFixture } from './harness/store-fixture'
import { Teardowns } from './harness/teardown'

/**
 * What a node costs doing nothing: --sales sales (a third open, a third sold out, a third closed)
 * and no traffic; after a settling pause, the CPU time each process takes over --seconds, from
 * /proc (user + system, all threads): the primary (with its writer threads), each worker, Redis
 * and PostgreSQL (every process named postgres: the node's backends and the server's own).
 *
 * The window must hold the primary's slow passes (reconciliation, pruning, the safety nets: each
 * once a minute, the sale watch's full read every 30 s): the default 120 s holds two of each.
 *
 * Redis is a redis-server of the benchmark's own (no other client's commands in its CPU time),
 * unless --shared-redis.
 *
 *   node dist/bench/idle.js [--sales 1000] [--seconds 120] [--workers 2] [--shared-redis] [--json]
 */
const SETTLE_MS = 5000

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sales: { type: 'string', default: '1000' },
      seconds: { type: 'string', default: '120' },
      workers: { type: 'string', default: '2' },
      json: { type: 'boolean', default: false },
      'shared-redis': { type: 'boolean', default: false },
    },
  })
  const sales = Number(values.sales)
  const seconds = Number(values.seconds)
  const t = new Teardowns()
  try {
    const redisUrl = values['shared-redis'] ? REDIS_URL : (await ownRedis(t)).url
    const stores = storeFixture(t, { tag: 'bench', redisUrl })
    const port = await freePort()
    const node = await startSeckill(t, { port, workers: Number(values.workers), env: stores.env() })
    const started = Date.now()
    for (let i = 0; i < sales; i++) {
      const id = `idle-${i}`
      const kind = i % 3 // 0 open, 1 sold out, 2 closed
      await admin(port, 'POST', '/api/v1/sales', { id, name: id, stock: kind === 1 ? 1 : 1000 })
      if (kind !== 2) await admin(port, 'POST', `/api/v1/sales/${id}/start`)
      else await admin(port, 'POST', `/api/v1/sales/${id}/close`)
      if (kind === 1) {
        const res = await fetch(`http://127.0.0.1:${port}/api/v1/sales/${id}/orders`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ userId: 'idle-buyer' }),
        })
        if (res.status !== 201) throw new Error(`buying out ${id}: ${res.status}`)
      }
    }
    const setupS = (Date.now() - started) / 1000
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))

    const primary = node.proc.pid!
    const workers = childPids(primary)
    const redisPid = Number(/process_id:(\d+)/.exec(await stores.redis.info('server'))?.[1])
    const groups: ProcessGroup[] = [
      ['primary', () => [primary]],
      ...workers.map((w, i): ProcessGroup => [`worker ${i}`, () => [w]]),
      ['redis', () => [redisPid]],
      ['postgres', () => processesNamed('postgres')],
    ]
    const used = cpuMeter(groups)
    const t0 = Date.now()
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
    const elapsed = (Date.now() - t0) / 1000
    const rows = used().map((g) => ({
      process: g.process,
      cpuSeconds: round(g.cpuSeconds),
      percentOfCore: round((g.cpuSeconds / elapsed) * 100),
    }))
    const total = round(rows.reduce((s, r) => s + r.percentOfCore, 0))
    const result = { sales, seconds: round(elapsed), setupSeconds: round(setupS), rows, total }
    if (values.json) process.stdout.write(`idle-result ${JSON.stringify(result)}\n`)
    else {
      process.stdout.write(
        `${sales} sales (open, sold out, closed), no traffic, ${round(elapsed)} s:\n` +
          rows
            .map(
              (r) =>
                `  ${r.process.padEnd(9)} ${r.cpuSeconds} CPU s, ${r.percentOfCore} % of a core`,
            )
            .join('\n') +
          `\n  total     ${total} % of a core\n`,
      )
    }
  } finally {
    await t.run()
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100
}

main().catch((err: Error) => {
  process.stderr.write(`idle: ${err.stack ?? err.message}\n`)
  process.exit(1)
})
