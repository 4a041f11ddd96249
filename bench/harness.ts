import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import Redis from 'ioredis'
import { Pool } from 'pg'

/**
 * What every benchmark script shares: starting a server (dist/) as a child process, the admin
 * calls, and a throwaway Redis prefix and PostgreSQL schema that are removed afterwards.
 */
export const ROOT = join(__dirname, '..', '..')
export const TOKEN = 'bench-admin-token-0123456789'

export interface Stores {
  readonly redisUrl: string
  readonly databaseUrl: string
  readonly prefix: string
  readonly schema: string
  readonly redis: Redis
  /** a pool on the bench schema */
  readonly pg: Pool
  /** the server's environment for these stores */
  env(): Record<string, string>
  /** delete every key under the prefix and drop the schema */
  cleanup(): Promise<void>
}

export function stores(redisUrl: string, databaseUrl: string): Stores {
  const tag = randomBytes(4).toString('hex')
  const prefix = `bench:${tag}:`
  const schema = `bench_${tag}`
  const redis = new Redis(redisUrl)
  const pg = new Pool({
    connectionString: databaseUrl,
    max: 2,
    options: `-c search_path=${schema}`,
  })
  return {
    redisUrl,
    databaseUrl,
    prefix,
    schema,
    redis,
    pg,
    env: () => ({
      REDIS_URL: redisUrl,
      REDIS_PREFIX: prefix,
      DATABASE_URL: databaseUrl,
      PG_SCHEMA: schema,
    }),
    async cleanup() {
      let cursor = '0'
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
        if (keys.length) await redis.del(...keys)
        cursor = next
      } while (cursor !== '0')
      redis.disconnect()
      await pg.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      await pg.end()
    },
  }
}

/** Start `dist/<script>` with PORT/HOST/WORKERS and `env`; resolves when it prints `readyText`. */
export function start(
  script: string,
  port: number,
  workers: number,
  env: Record<string, string>,
  readyText: string,
): Promise<ChildProcess> {
  const proc = spawn(process.execPath, [join(ROOT, 'dist', script)], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      WORKERS: String(workers),
      SECKILL_ADMIN_TOKEN: TOKEN,
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return whenPrinted(proc, readyText, script).then(() => proc)
}

/** Resolves once `proc` prints `text` (stdout or stderr); rejects with its output if it exits. */
export function whenPrinted(proc: ChildProcess, text: string, name: string): Promise<void> {
  let out = ''
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d
      if (out.includes(text)) resolve()
    }
    proc.stdout?.on('data', onData)
    proc.stderr?.on('data', onData)
    proc.once('exit', (code) => reject(new Error(`${name} exited ${code}: ${out}`)))
  })
}

export async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return
  proc.removeAllListeners('exit')
  const exited = new Promise((r) => proc.once('exit', r))
  proc.kill('SIGTERM')
  await exited
}

export async function admin(port: number, method: string, path: string, body?: unknown) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
}

/** Create and start a sale. */
export async function openSale(port: number, id: string, stock: number): Promise<void> {
  await admin(port, 'POST', '/api/v1/sales', { id, name: id, stock })
  await admin(port, 'POST', `/api/v1/sales/${id}/start`)
}

/** A histogram's count, sum and median bucket bound from Prometheus text. */
export function histogram(text: string, name: string) {
  const count = Number(new RegExp(`${name}_count (\\d+)`).exec(text)?.[1] ?? 0)
  const sum = Number(new RegExp(`${name}_sum (\\d+)`).exec(text)?.[1] ?? 0)
  const buckets = [
    ...text.matchAll(new RegExp(`${name}_bucket\\{le="([^"]+)"\\} (\\d+)`, 'g')),
  ].map(([, le, n]) => [le, Number(n)] as const)
  // The smallest bucket holding half the observations: a bound on the median.
  const median = buckets.find(([, n]) => n >= count / 2)?.[0] ?? '?'
  return { count, sum, mean: sum / Math.max(1, count), median }
}
