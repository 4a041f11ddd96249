import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { join } from 'node:path'
import Redis from 'ioredis'
import { saleKeys } from '../../src/store/keys'
import { type Client, client } from './http'
import { DATABASE_URL, freshSchema, type TestPg } from './pg'
import { deleteUnder } from './redis'

/**
 * Starts the real server (dist/cluster/primary.js, built by `npm test`'s pretest) as a child
 * process with its own port and Redis key prefix, and stops it at teardown.
 */
export const ROOT = join(__dirname, '..', '..')
export const PRIMARY = join(ROOT, 'dist', 'cluster', 'primary.js')
export const ADMIN_TOKEN = 'test-admin-token-0123456789'

export interface Teardown {
  teardown(fn: () => unknown): void
}

export interface Server {
  readonly port: number
  readonly prefix: string
  readonly proc: ChildProcess
  readonly http: Client
  /** a plain client on the server's Redis, for checking state */
  readonly redis: Redis
  /** the server's PostgreSQL schema (its own, dropped at teardown) and a pool on it */
  readonly pg: TestPg
  /** the Redis state of one sale: sold, stream length, units per user */
  state(saleId: string): Promise<{
    sold: number
    stock: number
    streamLength: number
    /** entries of the orders hash: every order Redis ever made for the sale */
    orders: number
    users: Record<string, string>
  }>
  /** everything the server printed so far */
  output(): string
  /** pids of the live worker processes */
  workers(): number[]
  admin(method: string, path: string, body?: unknown): ReturnType<Client['request']>
  /** create sale `id` and start it (unless start is false); returns nothing, asserts nothing */
  sale(id: string, fields: Record<string, unknown>, start?: boolean): Promise<void>
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address()
      s.close(() =>
        addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port')),
      )
    })
  })
}

export function childPids(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number)
  } catch {
    return []
  }
}

export interface StartOptions {
  readonly env?: Record<string, string>
  readonly workers?: number
  readonly redisUrl?: string
  /** reuse a schema (a restart of the same deployment); default: a fresh one */
  readonly pg?: TestPg
  /** reuse a prefix (a restart of the same deployment); default: a fresh one */
  readonly prefix?: string
  /** a fixed port (several instances behind a proxy); default: a free one */
  readonly port?: number
}

export async function startServer(t: Teardown, opts: StartOptions = {}): Promise<Server> {
  const port = opts.port ?? (await freePort())
  const prefix = opts.prefix ?? `t:${randomBytes(6).toString('hex')}:`
  const pg = opts.pg ?? freshSchema(t)
  const proc = spawn(process.execPath, [PRIMARY], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      WORKERS: String(opts.workers ?? 2),
      REDIS_URL: opts.redisUrl ?? 'redis://127.0.0.1:6379',
      REDIS_PREFIX: prefix,
      DATABASE_URL,
      PG_SCHEMA: pg.schema,
      SECKILL_ADMIN_TOKEN: ADMIN_TOKEN,
      LOG_LEVEL: 'info',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString()
  })
  proc.stderr?.on('data', (d: Buffer) => {
    out += d.toString()
  })
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start in 20 s:\n${out}`)),
      20000,
    )
    const check = () => {
      if (out.includes('seckill is serving')) {
        clearTimeout(timer)
        resolve()
      }
    }
    proc.stdout?.on('data', check)
    exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`server exited with ${code} before serving:\n${out}`))
    })
  })
  const http = client(port, 128)
  const redis = new Redis(opts.redisUrl ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 })
  const server: Server = {
    port,
    prefix,
    proc,
    http,
    redis,
    pg,
    async state(saleId) {
      const k = saleKeys(prefix, saleId)
      const [sale, streamLength, orders, users] = await Promise.all([
        redis.hgetall(k.sale),
        redis.xlen(k.stream),
        redis.hlen(k.orders),
        redis.hgetall(k.users),
      ])
      return { sold: Number(sale.sold), stock: Number(sale.stock), streamLength, orders, users }
    },
    output: () => out,
    workers: () => childPids(proc.pid!),
    admin: (method, path, body) =>
      http.request(method, path, body, { authorization: `Bearer ${ADMIN_TOKEN}` }),
    async sale(id, fields, start = true) {
      const created = await server.admin('POST', '/api/v1/sales', { id, name: id, ...fields })
      if (created.status !== 201)
        throw new Error(`creating sale ${id}: ${created.status} ${created.text}`)
      if (start) {
        const started = await server.admin('POST', `/api/v1/sales/${id}/start`)
        if (started.status !== 200)
          throw new Error(`starting sale ${id}: ${started.status} ${started.text}`)
      }
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null) return proc.exitCode
      proc.kill(signal)
      return exited
    },
  }
  t.teardown(async () => {
    http.close()
    await server.stop()
    await deleteUnder(redis, prefix).catch(() => {})
    redis.disconnect()
  })
  return server
}

/**
 * Run the server until it exits by itself (or 15 s), for starts that must be refused: its exit
 * code and everything it printed.
 */
export async function runToExit(
  env: Record<string, string>,
): Promise<{ code: number | null; out: string }> {
  const port = await freePort()
  const proc = spawn(process.execPath, [PRIMARY], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      WORKERS: '1',
      SECKILL_ADMIN_TOKEN: 'x'.repeat(20),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  proc.stdout.on('data', (d: Buffer) => {
    out += d
  })
  proc.stderr.on('data', (d: Buffer) => {
    out += d
  })
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15000)
  const code = await new Promise<number | null>((r) => proc.once('exit', r))
  clearTimeout(timer)
  return { code, out }
}

/** The `seckill` command as built by `npm test`'s pretest. */
export const CLI = join(ROOT, 'dist', 'src', 'cli', 'seckill.js')

/** Where a `seckill` command looks: the deployment's Redis, key prefix and PostgreSQL schema. */
export interface CliTarget {
  readonly redisUrl: string
  readonly prefix: string
  readonly schema: string
}

/** Run `seckill <args>` against a deployment; its exit code and everything it printed. */
export function runCli(d: CliTarget, ...args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    env: {
      ...process.env,
      REDIS_URL: d.redisUrl,
      REDIS_PREFIX: d.prefix,
      DATABASE_URL,
      PG_SCHEMA: d.schema,
    },
    encoding: 'utf8',
    timeout: 20000,
  })
  return { code: r.status, out: r.stdout + r.stderr }
}
