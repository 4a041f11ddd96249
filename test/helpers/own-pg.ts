import { execFile, execFileSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Client } from 'pg'
import { until } from '../../bench/harness/poll'
import { type Child, freePort, launch } from '../../bench/harness/spawn'
import type { Teardown } from '../../bench/harness/teardown'

/**
 * A private PostgreSQL on a free port, for tests that stop and start the order store: never the
 * shared instance on 5432. The postmaster is our own child process (not daemonised by pg_ctl),
 * so it cannot outlive a test that ends normally, and stop() waits for it to be gone.
 */
export interface OwnPg {
  /** postgres://postgres@127.0.0.1:<port>/postgres (trust auth) */
  readonly url: string
  readonly port: number
  /** fast shutdown (what `pg_ctl stop -m fast` sends): sessions are cut, nothing is lost */
  stop(): Promise<void>
  /** the same data directory back on the same port; resolves when it answers queries */
  start(): Promise<void>
  /** everything the postmaster printed so far */
  output(): string
}

const run = promisify(execFile)

/** The newest installed server's bin directory (PG_BIN overrides). */
function binDir(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'postgres')))
        .sort((a, b) => Number(b) - Number(a))
    : []
  if (versions.length === 0) throw new Error(`no PostgreSQL server under ${root}; set PG_BIN`)
  return join(root, versions[0]!, 'bin')
}

/** initdb and postgres refuse to run as root: as root, run them as the `postgres` account. */
function account(): { uid: number; gid: number } | Record<string, never> {
  if (process.getuid?.() !== 0) return {}
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }))
  return { uid: id('-u'), gid: id('-g') }
}

export async function ownPg(t: Teardown): Promise<OwnPg> {
  const bin = binDir()
  const as = account()
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'seckill-pg-'))
  if ('uid' in as) chownSync(dir, as.uid, as.gid)
  const data = join(dir, 'data')
  // --no-sync and the C locale keep initdb near a second; trust auth: no password in the URL.
  await run(
    join(bin, 'initdb'),
    ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync'],
    { ...as },
  )
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  let proc: Child | null = null
  // Every run of the postmaster, for its output one after the other.
  const runs: Child[] = []
  const output = () => runs.map((r) => r.output()).join('')

  async function start(): Promise<void> {
    if (proc) throw new Error('own PostgreSQL is already running')
    // A throw-away instance: durability settings off, which is what makes start and stop fast.
    const p = launch(
      join(bin, 'postgres'),
      [
        '-D',
        data,
        '-p',
        String(port),
        '-h',
        '127.0.0.1',
        '-k',
        dir,
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
        '-c',
        'autovacuum=off',
        '-c',
        'max_connections=60',
        '-c',
        'shared_buffers=16MB',
      ],
      {},
      as,
    )
    proc = p
    runs.push(p)
    p.exited.then(() => {
      if (proc === p) proc = null
    })
    // Done when it answers a query, or has exited (a bad setting, a port taken).
    const took = await until(async () => proc !== p || (await answers(url)), {
      timeoutMs: 15_000,
    })
    if (proc !== p) throw new Error(`own PostgreSQL on ${port} exited while starting:\n${output()}`)
    if (took < 0) throw new Error(`own PostgreSQL on ${port} did not start in 15 s:\n${output()}`)
  }

  async function shutdown(signal: NodeJS.Signals): Promise<void> {
    // SIGINT = fast shutdown (roll back open transactions, close sessions, checkpoint);
    // SIGQUIT = immediate, for teardown, where nothing needs keeping.
    await proc?.stop(signal)
  }

  t.teardown(async () => {
    await shutdown('SIGQUIT')
    rmSync(dir, { recursive: true, force: true })
  })
  await start()
  return { url, port, stop: () => shutdown('SIGINT'), start, output }
}

/** Whether PostgreSQL at `url` answers a query (a refused connection is a no, not an error). */
async function answers(url: string): Promise<boolean> {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 1000 })
  c.on('error', () => {})
  try {
    await c.connect()
    await c.query('SELECT 1')
    return true
  } finally {
    await c.end().catch(() => {})
  }
}
