import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs, promisify } from 'node:util'
import { Pool } from 'undici'
import { admin, openSale } from './harness/admin'
import { ownRedis } from './harness/own-redis'
import { startSeckill } from './harness/servers'
import { freePort, ROOT } from './harness/spawn'
import { REDIS_URL, storeFixture } from './harness/store-fixture'
import { Teardowns } from './harness/teardown'

/**
 * `seckill reload` under load: a node with a live sale, a load generator keeping CONNECTIONS
 * connections busy buying, and RELOADS reloads one after the other. Counts every answer by status
 * and every failed request by cause, then checks the sale against PostgreSQL.
 *
 *   node dist/bench/reload.js [--reloads 3] [--connections 100] [--stock 20000] [--churn]
 *                             [--own-redis] [--json]
 *
 * --churn opens a new connection for every request (Connection: close), the load that meets a
 * closing SO_REUSEPORT listener with connections still in its accept queue: without
 * net.ipv4.tcp_migrate_req=1 the kernel resets those. --own-redis starts a redis-server of its
 * own (for a network namespace of its own, where the machine's Redis is not reachable; PostgreSQL
 * is then reached through DATABASE_URL, e.g. its unix socket). Exit 1 when a request failed or a
 * check did not hold.
 */
const exec = promisify(execFile)
const SECKILL = join(ROOT, 'dist', 'src', 'cli', 'seckill.js')
/**
 * Buyers drawn from a million ids: almost every attempt is a new buyer, so the sale keeps selling
 * through the reloads until its stock (--stock) runs out; a repeat buyer is refused (limit).
 */
const USERS = 1_000_000
/** Load before the first reload and between reloads: every worker has served before it goes. */
const SETTLE_MS = 500

interface Outcome {
  readonly statuses: Record<string, number>
  readonly failures: Record<string, number>
  readonly orderIds: string[]
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      reloads: { type: 'string', default: '3' },
      stock: { type: 'string', default: '20000' },
      connections: { type: 'string', default: '100' },
      churn: { type: 'boolean', default: false },
      'own-redis': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  })
  const reloads = Number(values.reloads)
  const connections = Number(values.connections)
  const t = new Teardowns()
  try {
    const redisUrl = values['own-redis'] ? (await ownRedis(t)).url : REDIS_URL
    const stores = storeFixture(t, { redisUrl, tag: 'bench' })
    const port = await freePort()
    const runDir = mkdtempSync(join(tmpdir(), 'seckill-reload-'))
    t.teardown(() => rmSync(runDir, { recursive: true, force: true }))
    const env = { ...stores.env(), RUN_DIR: runDir, SHUTDOWN_TIMEOUT_MS: '10000' }
    await startSeckill(t, { port, workers: 2, env })
    await openSale(port, 'reload', Number(values.stock))

    const load = startLoad(port, connections, values.churn)
    const replaced: { before: number[]; after: number[]; ms: number }[] = []
    await sleep(SETTLE_MS)
    for (let i = 0; i < reloads; i++) {
      const before = await workerPids(port, env)
      const started = Date.now()
      const { stdout } = await exec(process.execPath, [SECKILL, 'reload'], {
        env: { ...process.env, ...env, PORT: String(port) },
      })
      const ms = Date.now() - started
      const after = await workerPids(port, env)
      replaced.push({ before, after, ms })
      if (!values.json) process.stdout.write(stdout)
      await sleep(SETTLE_MS)
    }
    const outcome = await load.stop()

    const checks = await checkSale(port, stores.pg, outcome)
    const everyPidReplaced = replaced.every((r) => r.before.every((pid) => !r.after.includes(pid)))
    const failed = Object.values(outcome.failures).reduce((a, b) => a + b, 0)
    const unexpected = Object.entries(outcome.statuses)
      .filter(([s]) => s !== '201' && s !== '409')
      .reduce((a, [, n]) => a + n, 0)
    const result = {
      connections,
      churn: values.churn,
      tcpMigrateReq: readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim(),
      reloads: replaced,
      everyPidReplaced,
      statuses: outcome.statuses,
      failures: outcome.failures,
      failed,
      unexpected,
      checks,
    }
    if (values.json) process.stdout.write(`reload-result ${JSON.stringify(result)}\n`)
    else {
      process.stdout.write(
        `${connections} connections${values.churn ? ' (a new one per request)' : ' (keep-alive)'}, ` +
          `tcp_migrate_req=${result.tcpMigrateReq}, ${reloads} reloads ` +
          `(${replaced.map((r) => `${r.ms} ms`).join(', ')})\n` +
          `answers by status: ${JSON.stringify(outcome.statuses)}\n` +
          `failed requests: ${failed} ${JSON.stringify(outcome.failures)}; other statuses: ${unexpected}\n` +
          `every worker pid replaced: ${everyPidReplaced}; checks: ${JSON.stringify(checks)}\n`,
      )
    }
    const ok =
      failed === 0 && unexpected === 0 && everyPidReplaced && Object.values(checks).every(Boolean)
    return ok ? 0 : 1
  } finally {
    await t.run()
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function workerPids(port: number, env: Record<string, string>): Promise<number[]> {
  const { stdout } = await exec(process.execPath, [SECKILL, 'status', '--json'], {
    env: { ...process.env, ...env, PORT: String(port) },
  })
  const status = JSON.parse(stdout) as { workers: { pid: number }[] }
  return status.workers.map((w) => w.pid).sort()
}

/**
 * `connections` loops, each sending the next purchase as soon as the last is answered, on an
 * undici pool of as many keep-alive connections (or, churning, a new connection each time).
 */
function startLoad(port: number, connections: number, churn: boolean) {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections, pipelining: 1 })
  const statuses: Record<string, number> = {}
  const failures: Record<string, number> = {}
  const orderIds: string[] = []
  let running = true
  const loop = async () => {
    while (running) {
      const user = `u${Math.floor(Math.random() * USERS)}`
      try {
        const res = await pool.request({
          method: 'POST',
          path: '/api/v1/sales/reload/orders',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ userId: user }),
          reset: churn,
        })
        const text = await res.body.text()
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1
        if (res.statusCode === 201) orderIds.push((JSON.parse(text) as { orderId: string }).orderId)
      } catch (err) {
        const e = err as Error & { code?: string }
        const cause = e.code ?? e.name
        failures[cause] = (failures[cause] ?? 0) + 1
      }
    }
  }
  const loops = Array.from({ length: connections }, loop)
  return {
    async stop(): Promise<Outcome> {
      running = false
      await Promise.all(loops)
      await pool.close()
      return { statuses, failures, orderIds }
    },
  }
}

/** The sale after the run: what the API says, what PostgreSQL holds, what buyers were told. */
async function checkSale(port: number, pg: import('pg').Pool, outcome: Outcome) {
  const sale = async () => {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/sales/reload`)
    return (await res.json()) as { sold: number }
  }
  // The writer is asynchronous: wait (bounded) until PostgreSQL holds what Redis sold.
  const deadline = Date.now() + 15_000
  let sold = (await sale()).sold
  let inPg = 0
  for (; Date.now() < deadline; await sleep(200)) {
    sold = (await sale()).sold
    const r = await pg.query<{ n: string }>(
      "SELECT coalesce(sum(quantity), 0) AS n FROM orders WHERE sale_id = 'reload'",
    )
    inPg = Number(r.rows[0]?.n)
    if (inPg === sold) break
  }
  const told = await pg.query<{ n: string }>(
    'SELECT count(*) AS n FROM orders WHERE order_id = ANY($1)',
    [outcome.orderIds],
  )
  const overLimit = await pg.query(
    "SELECT user_id FROM orders WHERE sale_id = 'reload' GROUP BY user_id HAVING sum(quantity) > 1",
  )
  await admin(port, 'POST', '/api/v1/sales/reload/close')
  return {
    soldEqualsPg: sold === inPg,
    everyReservedInPg: Number(told.rows[0]?.n) === outcome.orderIds.length,
    reservedEqualsSold: outcome.orderIds.length === sold,
    noUserOverLimit: overLimit.rowCount === 0,
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`reload: ${err.stack ?? err.message}\n`)
    process.exit(1)
  },
)
