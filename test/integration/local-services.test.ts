import { execFile } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import Redis from 'ioredis'
import { Pool } from 'pg'
import t from 'tap'
import { ADMIN_TOKEN, SERVING } from '../../bench/harness/servers'
import { type Child, freePort, launchNode, untilExit } from '../../bench/harness/spawn'
import type { Teardown } from '../../bench/harness/teardown'
import { PG_VARIABLES } from '../../cluster/local-services'
import { type Client, client } from '../helpers/http'
import { waitFor } from '../helpers/pg'
import { saleApi } from '../helpers/sale-api'
import { CLI } from '../helpers/server'

/**
 * `npm start` on a machine with nothing configured (cluster/local-services.ts): no REDIS_URL, no
 * DATABASE_URL or PG* variable, no config file, and the default addresses moved to ports where
 * nothing listens. The node must run its own Redis and PostgreSQL in DATA_DIR, sell, keep its
 * orders over a `seckill stop` and a new start, and leave no server running after it stops.
 */

const execFileP = promisify(execFile)

/** Everything that would name a store, left out of the node's environment. */
const NOTHING_GIVEN = Object.fromEntries(
  ['REDIS_URL', 'DATABASE_URL', ...PG_VARIABLES, 'SECKILL_CONFIG', 'LOCAL_SERVICES'].map((name) => [
    name,
    undefined,
  ]),
)

/** initdb and a first start of PostgreSQL take a few seconds on 2 shared cores. */
const FIRST_START_MS = 60_000

interface Scratch {
  readonly dataDir: string
  readonly env: Record<string, string | undefined>
  readonly port: number
}

/** A data directory of the test's own and the environment of a node with nothing configured. */
async function scratch(tt: Teardown): Promise<Scratch> {
  const dir = mkdtempSync(join(tmpdir(), 'seckill-local-'))
  // As root the node runs PostgreSQL as the postgres account, which must reach DATA_DIR.
  chmodSync(dir, 0o755)
  const dataDir = join(dir, 'data')
  tt.teardown(() => {
    // Nothing should be left; if a step failed, nothing is left behind by the test either.
    for (const pid of serverPids(dataDir)) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true })
  })
  const port = await freePort()
  const env = {
    ...NOTHING_GIVEN,
    PORT: String(port),
    HOST: '127.0.0.1',
    WORKERS: '1',
    SECKILL_ADMIN_TOKEN: ADMIN_TOKEN,
    LOG_FORMAT: 'json',
    DATA_DIR: dataDir,
    RUN_DIR: join(dir, 'run'),
    LOCAL_PROBE_REDIS_PORT: String(await freePort()),
    LOCAL_PROBE_PG_PORT: String(await freePort()),
  }
  return { dataDir, env, port }
}

/** The pids the local servers wrote (Redis's pid file, PostgreSQL's postmaster.pid). */
function serverPids(dataDir: string): number[] {
  const files = [join(dataDir, 'redis', 'redis.pid'), join(dataDir, 'pg', 'data', 'postmaster.pid')]
  return files.flatMap((f) => {
    try {
      return [Number.parseInt(readFileSync(f, 'utf8').split('\n')[0] ?? '', 10)]
    } catch {
      return []
    }
  })
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** What the node recorded about a local service (port, password): how the test reaches it. */
function service(dataDir: string, name: 'redis' | 'pg') {
  return JSON.parse(readFileSync(join(dataDir, name, 'service.json'), 'utf8'))
}

async function startNode(tt: Teardown, s: Scratch): Promise<Child> {
  const node = launchNode('cluster/primary.js', s.env)
  tt.teardown(() => node.stop('SIGKILL'))
  await node.printed(SERVING, FIRST_START_MS)
  await node.printed('seckill: serving on', 5000)
  return node
}

/**
 * `seckill <args>` for the node of `s` (it finds the node by PORT and RUN_DIR). Asynchronous: the
 * node's output comes through pipes this process must keep reading while the command runs.
 */
async function seckill(s: Scratch, ...args: string[]) {
  const env = Object.fromEntries(
    Object.entries({ ...process.env, ...s.env }).filter(([, v]) => v !== undefined),
  )
  try {
    const r = await execFileP(process.execPath, [CLI, ...args], { env, timeout: 60_000 })
    return { status: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string }
    return { status: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }
  }
}

async function buy(http: Client, user: string): Promise<string> {
  // A Redis restarted under the node: its clients reconnect within about a second.
  let last = ''
  for (let i = 0; i < 50; i++) {
    const r = await http.request('POST', '/api/v1/sales/local/orders', { userId: user })
    if (r.status === 201) return r.json.orderId as string
    last = `${r.status} ${r.text}`
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`buying for ${user}: ${last}`)
}

t.test(
  'with nothing configured the node runs its own Redis and PostgreSQL, sells, and keeps the orders over a restart',
  async (t) => {
    const s = await scratch(t)
    const first = await startNode(t, s)
    const line = first.output()
    t.match(line, `local Redis redis://***@127.0.0.1:`, 'the start line says Redis is local')
    t.match(line, `data in ${join(s.dataDir, 'redis')}`, '... and where its data lives')
    t.match(line, `local PostgreSQL postgres://seckill:***@127.0.0.1:`, 'PostgreSQL is local')
    t.match(line, `data in ${join(s.dataDir, 'pg')}`, '... and where its data lives')
    t.match(line, /"msg":"local Redis started/, 'the JSON log says it too')
    t.match(line, /aof, appendfsync everysec/, 'the local Redis keeps an AOF, fsynced every second')
    const firstPids = serverPids(s.dataDir)
    t.equal(firstPids.length, 2, 'a redis-server and a postgres run')

    const redisState = service(s.dataDir, 'redis')
    const redis = new Redis({
      host: '127.0.0.1',
      port: redisState.port,
      password: redisState.password,
    })
    // It reconnects by itself while the node and its Redis restart.
    redis.on('error', () => {})
    t.teardown(() => redis.disconnect())
    t.equal(
      ((await redis.config('GET', 'maxmemory-policy')) as string[])[1],
      'noeviction',
      'it never evicts keys',
    )
    const pgState = service(s.dataDir, 'pg')
    const http = client(s.port)
    t.teardown(() => http.close())
    const api = saleApi(http, redis, 'sk:')
    await api.sale('local', { stock: 5 })
    const alice = await buy(http, 'alice')

    const pgAt = {
      host: '127.0.0.1',
      port: pgState.port,
      user: pgState.user,
      password: pgState.password,
      database: pgState.database,
      max: 1,
    }
    const pg = new Pool(pgAt)
    pg.on('error', () => {})
    const written = async (orderId: string) =>
      (await pg.query('SELECT 1 FROM orders WHERE order_id = $1', [orderId])).rowCount === 1
    await waitFor('the order in the local PostgreSQL', () => written(alice), 10_000)
    await pg.end()

    const stop = await seckill(s, 'stop')
    t.equal(stop.status, 0, `seckill stop: exit 0 ${stop.stderr}`)
    t.match(stop.stdout, /stopped \(pid \d+\)/)
    t.equal(await first.exited, 0, 'the node exits 0')
    t.same(firstPids.filter(alive), [], 'its redis-server and postgres stopped with it')

    const second = await startNode(t, s)
    t.same(service(s.dataDir, 'pg').port, pgState.port, 'the same PostgreSQL, on the same port')
    const pgLog = readFileSync(join(s.dataDir, 'pg', 'postgres.log'), 'utf8')
    t.equal(
      pgLog.split('Success. You can now start').length,
      2,
      'initdb ran on the first start only',
    )
    const order = await http.request('GET', `/api/v1/orders/${alice}`)
    t.equal(order.status, 200, "the first run's order is there after the restart")
    t.equal(order.json.userId, 'alice')
    const sale = await http.request('GET', '/api/v1/sales/local')
    t.equal(sale.json.sold, 1, "Redis kept the sale's counters (its AOF)")

    // A local Redis that dies under the node is noticed, logged and started again on its data.
    const redisPid = serverPids(s.dataDir)[0]!
    process.kill(redisPid, 'SIGKILL')
    const bob = await buy(http, 'bob')
    t.match(second.output(), /local service exited: starting it again/, 'the death is logged')

    const pg2 = new Pool(pgAt)
    pg2.on('error', () => {})
    const rows = async () =>
      (await pg2.query('SELECT order_id FROM orders ORDER BY user_id')).rows.map((r) => r.order_id)
    await waitFor('both orders in PostgreSQL', async () => (await rows()).length === 2, 10_000)
    t.same(await rows(), [alice, bob], 'every order is in PostgreSQL once')
    await pg2.end()

    const secondPids = serverPids(s.dataDir)
    t.equal(await second.stop('SIGTERM'), 0, 'the node stops again, exit 0')
    t.same(secondPids.filter(alive), [], 'no redis-server or postgres is left running')
  },
)

t.test(
  'with no Redis reachable and no redis-server on PATH the start stops with exit 2 and how to install it',
  async (t) => {
    const s = await scratch(t)
    const empty = mkdtempSync(join(tmpdir(), 'seckill-path-'))
    t.teardown(() => rmSync(empty, { recursive: true, force: true }))
    const node = launchNode('cluster/primary.js', { ...s.env, PATH: empty })
    let stderr = ''
    node.proc.stderr?.on('data', (d: Buffer) => {
      stderr += d
    })
    const { code, out } = await untilExit(node, 15_000)
    t.equal(code, 2, out)
    t.match(stderr, /redis-server is not on PATH/)
    t.match(stderr, /apt-get install redis-server/, 'the Debian/Ubuntu install line')
    t.match(stderr, /brew install redis/, 'the macOS one')
    t.match(stderr, /set REDIS_URL/)
    t.equal(stderr.trim().split('\n').length, 1, 'one line')
    t.same(serverPids(s.dataDir), [], 'nothing was started (no PostgreSQL either)')
  },
)
