import { execFile, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { ROOT } from '../helpers/server'

/**
 * `seckill reload` three times while 100 keep-alive connections keep buying on a live sale
 * (bench/reload.ts drives it and checks the sale against PostgreSQL): not one failed request,
 * no status but the sale's own answers (201, 409), every worker pid replaced, the invariants
 * whole. Run with the kernel's tcp_migrate_req off and on, each in a network namespace of its
 * own (root and util-linux's unshare needed; otherwise once, as the machine is set).
 */
const exec = promisify(execFile)
const RELOAD = join(ROOT, 'dist', 'bench', 'reload.js')
/** The machine's PostgreSQL through its unix socket: a new network namespace has no route to it. */
const PG_SOCKET_URL = 'postgres://postgres@%2Fvar%2Frun%2Fpostgresql/test'

interface ReloadResult {
  tcpMigrateReq: string
  reloads: { before: number[]; after: number[]; ms: number }[]
  everyPidReplaced: boolean
  statuses: Record<string, number>
  failures: Record<string, number>
  failed: number
  unexpected: number
  checks: Record<string, boolean>
}

function namespacesUsable(): boolean {
  if (process.getuid?.() !== 0) return false
  const r = spawnSync('unshare', [
    '-n',
    'sh',
    '-c',
    `ip link set lo up && test -S /var/run/postgresql/.s.PGSQL.5432`,
  ])
  return r.status === 0
}

async function run(command: string, args: string[], env: Record<string, string> = {}) {
  const { stdout } = await exec(command, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    timeout: 120_000,
    maxBuffer: 16 * 2 ** 20,
  }).catch((err: { stdout?: string; stderr?: string; message: string }) => {
    // Exit 1 is a failed check: the result line says which; anything else is a broken run.
    if (err.stdout?.includes('reload-result ')) return { stdout: err.stdout }
    throw new Error(`${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`)
  })
  const line = stdout.split('\n').find((l) => l.startsWith('reload-result '))
  if (!line) throw new Error(`no result line:\n${stdout}`)
  return JSON.parse(line.slice('reload-result '.length)) as ReloadResult
}

function holds(t: Test, r: ReloadResult, migrate: string) {
  t.equal(r.tcpMigrateReq, migrate, `tcp_migrate_req=${migrate}`)
  t.equal(r.reloads.length, 3, 'three reloads')
  t.ok(r.everyPidReplaced, 'each reload replaced every worker pid')
  t.equal(r.failed, 0, `no failed request (${JSON.stringify(r.failures)})`)
  t.equal(r.unexpected, 0, `no status but 201 and 409 (${JSON.stringify(r.statuses)})`)
  t.ok((r.statuses['201'] ?? 0) > 0, 'units were sold during the run')
  t.same(r.checks, {
    soldEqualsPg: true,
    everyReservedInPg: true,
    reservedEqualsSold: true,
    noUserOverLimit: true,
  })
}

const args = [RELOAD, '--json', '--reloads', '3', '--connections', '100', '--stock', '5000']

if (namespacesUsable()) {
  for (const migrate of ['0', '1']) {
    t.test(`three reloads under keep-alive load, tcp_migrate_req=${migrate}`, async (t) => {
      const script =
        `ip link set lo up && sysctl -qw net.ipv4.tcp_migrate_req=${migrate} && ` +
        `exec "${process.execPath}" ${args.join(' ')} --own-redis`
      holds(
        t,
        await run('unshare', ['-n', 'sh', '-c', script], { DATABASE_URL: PG_SOCKET_URL }),
        migrate,
      )
    })
  }
} else {
  t.test('three reloads under keep-alive load, the machine as it is set', async (t) => {
    const r = await run(process.execPath, args)
    holds(t, r, r.tcpMigrateReq)
  })
}
