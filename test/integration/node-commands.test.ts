import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { newPrefix, REDIS_URL } from '../../bench/harness/store-fixture'
import type { NodeStatus } from '../../src/control/protocol'
import { alive } from '../../src/control/run-files'
import { client } from '../helpers/http'
import { DATABASE_URL, freshSchema, type Teardown } from '../helpers/pg'
import { ADMIN_TOKEN, CLI, childPids, freePort, ROOT } from '../helpers/server'

/**
 * A node driven the way an operator does: `seckill start -d`, `status`, `logs`, `reload`, `stop`,
 * through its run files (pid file, control socket) in a run directory of the test's own.
 */
const exec = promisify(execFile)

interface Ran {
  readonly code: number
  readonly out: string
  readonly err: string
}

async function seckill(env: Record<string, string>, ...args: string[]): Promise<Ran> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      timeout: 90_000,
    })
    return { code: 0, out: stdout, err: stderr }
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string }
    return { code: e.code ?? -1, out: e.stdout ?? '', err: e.stderr ?? '' }
  }
}

async function nodeEnv(t: Teardown, extra: Record<string, string> = {}) {
  const runDir = mkdtempSync(join(tmpdir(), 'seckill-run-'))
  const port = await freePort()
  const env = {
    PORT: String(port),
    HOST: '127.0.0.1',
    WORKERS: '2',
    REDIS_URL,
    REDIS_PREFIX: newPrefix(),
    DATABASE_URL,
    PG_SCHEMA: freshSchema(t).schema,
    SECKILL_ADMIN_TOKEN: ADMIN_TOKEN,
    RUN_DIR: runDir,
    ...extra,
  }
  const pidFile = join(runDir, `seckill-${port}.pid`)
  // Whatever a failed test left running goes with it.
  t.teardown(() => {
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0
    if (pid > 0 && alive(pid)) {
      for (const p of [...childPids(pid), pid]) {
        try {
          process.kill(p, 'SIGKILL')
        } catch {}
      }
    }
    rmSync(runDir, { recursive: true, force: true })
  })
  return { env, port, runDir, pidFile, socket: join(runDir, `seckill-${port}.sock`) }
}

t.test(
  'start -d, status, logs, sale, reload, stop: a node in the background, and nothing left',
  async (t) => {
    // No SECKILL_ADMIN_TOKEN: the node generates one; start -d prints it, `seckill sale` asks.
    const n = await nodeEnv(t, { SECKILL_ADMIN_TOKEN: '' })
    const started = await seckill(n.env, 'start', '-d')
    t.equal(started.code, 0, `start -d: exit 0 (${started.err})`)
    const token = /admin token, generated for this run: (\S+)/.exec(started.out)?.[1] ?? ''
    t.ok(token.length >= 16, 'start -d prints the generated admin token')
    t.match(started.out, /seckill: serving on http:\/\/127\.0\.0\.1:\d+ with 2 workers/)
    t.match(started.out, /started in the background \(pid \d+\); log .*seckill-\d+\.log/)
    const pid = Number(readFileSync(n.pidFile, 'utf8'))
    t.ok(alive(pid), 'the pid file names a live process')
    t.equal(statSync(n.runDir).mode & 0o777, 0o700, 'run directory: owner only')
    t.equal(statSync(n.socket).mode & 0o777, 0o600, 'control socket: owner only')
    t.ok(statSync(n.socket).isSocket())

    const again = await seckill(n.env, 'start', '-d')
    t.equal(again.code, 1, 'a second start on the same port: exit 1')
    t.match(again.err, new RegExp(`already running on port ${n.port} \\(pid ${pid}\\)`))

    // In the foreground the pid file refuses it: with SO_REUSEPORT it would share the port.
    const foreground = await seckill(n.env, 'start')
    t.equal(foreground.code, 1, 'a second node in the foreground: exit 1')
    t.match(foreground.err, new RegExp(`a node already runs on port ${n.port} \\(pid ${pid}`))
    t.equal(Number(readFileSync(n.pidFile, 'utf8')), pid, 'the pid file still names the first')
    // A sale with a sale made, so status has one to show; then a second for the stats to arrive.
    const http = client(n.port, 4)
    t.teardown(() => http.close())
    const auth = { authorization: `Bearer ${token}` }
    t.equal(
      (await http.request('POST', '/api/v1/sales', { id: 's1', name: 'S', stock: 10 }, auth))
        .status,
      201,
    )
    t.equal((await http.request('POST', '/api/v1/sales/s1/start', undefined, auth)).status, 200)
    t.equal((await http.request('POST', '/api/v1/sales/s1/orders', { userId: 'u1' })).status, 201)
    await new Promise((resolve) => setTimeout(resolve, 2500))

    const json = await seckill(n.env, 'status', '--json')
    t.equal(json.code, 0, 'status --json: exit 0')
    const s = JSON.parse(json.out) as NodeStatus
    const version = (
      JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
    ).version
    t.equal(s.node.pid, pid)
    t.equal(s.node.version, version)
    t.equal(s.node.port, n.port)
    t.ok(s.node.serving)
    t.ok(s.node.uptimeS >= 2 && s.node.uptimeS < 120, `uptime ${s.node.uptimeS} s`)
    t.same(s.node.redis, { url: REDIS_URL, reachable: true })
    t.equal(s.node.postgres.reachable, true)
    t.equal(s.node.configFile, null)
    t.equal(s.node.runDir, n.runDir)
    t.equal(s.workers.length, 2, 'both workers')
    t.same(s.workers.map((w) => w.pid).sort(), childPids(pid).sort(), "the primary's children")
    for (const w of s.workers) {
      t.ok(w.rssMb > 10 && w.rssMb < 2000, `worker ${w.slot}: RSS ${w.rssMb} MB`)
      t.ok(w.cpuPercent >= 0 && w.cpuPercent <= 200, `worker ${w.slot}: CPU ${w.cpuPercent} %`)
      t.equal(w.restarts, 0)
    }
    const sale = s.sales.find((x) => x.id === 's1')
    t.match(sale, { state: 'open', stock: 10, sold: 1, remaining: 9 }, 'the live sale')

    const table = await seckill(n.env, 'status')
    t.equal(table.code, 0)
    for (const w of s.workers) t.match(table.out, new RegExp(`^${w.slot} +${w.pid} `, 'm'))
    t.match(table.out, /^s1 +open +10 +1 +9 /m)

    const logs = await seckill(n.env, 'logs', '-n', '2')
    t.equal(logs.code, 0)
    t.equal(logs.out.trimEnd().split('\n').length, 2, 'logs -n 2: two lines')

    await saleCommands(t, n.env)

    const reload = await seckill(n.env, 'reload')
    t.equal(reload.code, 0, `reload: exit 0 (${reload.err})`)
    t.match(reload.out, /reloaded 2 workers/)
    const after = childPids(pid)
    t.equal(after.length, 2)
    t.notOk(
      after.some((p) => s.workers.some((w) => w.pid === p)),
      'every worker pid replaced',
    )
    t.match(
      await http.request('GET', '/api/v1/sales/s1'),
      { status: 200 },
      'the node serves after it',
    )

    const stopped = await seckill(n.env, 'stop')
    t.equal(stopped.code, 0, `stop: exit 0 (${stopped.err})`)
    t.match(stopped.out, new RegExp(`stopped \\(pid ${pid}\\)`))
    t.notOk(alive(pid), 'the primary is gone')
    t.notOk(after.some(alive), 'its workers are gone')
    t.notOk(existsSync(n.pidFile), 'pid file removed')
    t.notOk(existsSync(n.socket), 'control socket removed')
    t.ok(existsSync(join(n.runDir, `seckill-${n.port}.log`)), 'the log stays')
  },
)

t.test('commands for a node that is not running', async (t) => {
  const n = await nodeEnv(t)
  const stop = await seckill(n.env, 'stop')
  t.equal(stop.code, 0, 'stop: exit 0, as init scripts do')
  t.match(stop.out, new RegExp(`not running on port ${n.port}`))
  for (const cmd of ['status', 'reload']) {
    const r = await seckill(n.env, cmd)
    t.equal(r.code, 3, `${cmd}: exit 3 (not running)`)
    t.match(r.err, /^seckill: not running on port \d+/)
  }
  for (const env of [n.env, { ...n.env, SECKILL_ADMIN_TOKEN: '' }]) {
    const sale = await seckill(env, 'sale', 'start', 'tv')
    t.equal(sale.code, 3, `sale (${env.SECKILL_ADMIN_TOKEN ? 'token set' : 'no token'}): exit 3`)
  }
  const logs = await seckill(n.env, 'logs')
  t.equal(logs.code, 1, 'logs with no log file: exit 1')
  t.match(logs.err, /no log file/)
})

t.test('a stale pid file (a node killed with -9) does not stop the next start', async (t) => {
  const n = await nodeEnv(t)
  t.equal((await seckill(n.env, 'start', '-d')).code, 0)
  const pid = Number(readFileSync(n.pidFile, 'utf8'))
  const workers = childPids(pid)
  process.kill(pid, 'SIGKILL')
  for (const w of workers) process.kill(w, 'SIGKILL')
  while (alive(pid)) await new Promise((resolve) => setTimeout(resolve, 50))
  t.ok(existsSync(n.pidFile), 'the killed node left its pid file')
  const r = await seckill(n.env, 'restart')
  t.equal(r.code, 0, `restart over a stale pid file: exit 0 (${r.err})`)
  t.match(r.out, /not running/)
  const fresh = Number(readFileSync(n.pidFile, 'utf8'))
  t.not(fresh, pid)
  t.equal((await seckill(n.env, 'stop')).code, 0)
})

t.test('a start that fails says why, exits 1 and leaves nothing running', async (t) => {
  const n = await nodeEnv(t, { REDIS_URL: `redis://127.0.0.1:${await freePort()}` })
  const r = await seckill(n.env, 'start', '-d')
  t.equal(r.code, 1)
  t.match(r.err, /the node did not start \(exit code 1\)/)
  t.match(r.err, /Redis is not reachable/)
  t.notOk(existsSync(n.pidFile), 'no pid file')
  t.notOk(existsSync(n.socket), 'no socket')
})

/** `seckill sale` on a running node whose admin token was generated: the node gives it. */
async function saleCommands(t: Test, env: Record<string, string>) {
  const created = await seckill(env, 'sale', 'create', 'tv', '--stock', '5', '--name', 'A TV')
  t.equal(created.code, 0, `create: exit 0 (${created.err})`)
  t.match(created.out, /^sale tv "A TV": scheduled, stock 5, sold 0, remaining 5, per user 1/)
  t.equal((await seckill(env, 'sale', 'start', 'tv')).code, 0)
  const shown = await seckill(env, 'sale', 'show', 'tv', '--json')
  t.equal(shown.code, 0)
  t.match(JSON.parse(shown.out), { id: 'tv', state: 'open', stock: 5 })
  const closed = await seckill(env, 'sale', 'close', 'tv')
  t.match(closed.out, /^sale tv "A TV": closed/)

  const again = await seckill(env, 'sale', 'create', 'tv', '--stock', '5')
  t.equal(again.code, 1, 'the API refuses: exit 1')
  t.match(again.err, /409 sale_exists/)
  const missing = await seckill(env, 'sale', 'show', 'nope')
  t.equal(missing.code, 1)
  t.match(missing.err, /404 not_found/)
  const wrongToken = await seckill(
    { ...env, SECKILL_ADMIN_TOKEN: 'w'.repeat(20) },
    'sale',
    'start',
    'tv',
  )
  t.equal(wrongToken.code, 1, 'a configured token the node does not accept: refused')
  t.match(wrongToken.err, /401 unauthorized/)

  for (const [what, args, message] of [
    ['no action', ['sale'], /one of create, start, close, stock, show/],
    ['an unknown action', ['sale', 'delete', 'tv'], /not "delete"/],
    ['no id', ['sale', 'start'], /needs a sale id/],
    ['no stock', ['sale', 'create', 'x'], /needs --stock N/],
    [
      'a stock that is no number',
      ['sale', 'create', 'x', '--stock', 'ten'],
      /--stock takes a whole number/,
    ],
  ] as const) {
    const r = await seckill(env, ...args)
    t.equal(r.code, 2, `${what}: exit 2`)
    t.match(r.err, message, `${what}: says why`)
  }
}
