import type { ChildProcess } from 'node:child_process'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { ADMIN_TOKEN, startSeckill } from '../../bench/harness/servers'
import { childPids, freePort, launchNode, ROOT, untilExit } from '../../bench/harness/spawn'
import {
  deleteUnder,
  harnessRedis,
  newPrefix,
  REDIS_URL,
  redisTarget,
} from '../../bench/harness/store-fixture'
import type { Teardown } from '../../bench/harness/teardown'
import type { RedisClient } from '../../src/store/redis-client'
import { type Client, client } from './http'
import { DATABASE_URL, freshSchema, type TestPg } from './pg'
import { type SaleApi, saleApi } from './sale-api'

/**
 * A real seckill node (dist/cluster/primary.js, built by `npm test`'s pretest) as a child process
 * with its own port, Redis key prefix and PostgreSQL schema, stopped at teardown; on the harness
 * the benchmarks use too (bench/harness/).
 */
export { ADMIN_TOKEN, childPids, freePort, ROOT, type Teardown }

export interface Server extends SaleApi {
  readonly port: number
  readonly prefix: string
  readonly proc: ChildProcess
  readonly http: Client
  /** a plain client on the server's Redis, for checking state */
  readonly redis: RedisClient
  /** the server's PostgreSQL schema (its own, dropped at teardown) and a pool on it */
  readonly pg: TestPg
  /** everything the server printed so far */
  output(): string
  /** pids of the live worker processes */
  workers(): number[]
  stop(signal?: NodeJS.Signals): Promise<number | null>
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
  const redisUrl = opts.redisUrl ?? REDIS_URL
  const prefix = opts.prefix ?? newPrefix()
  const pg = opts.pg ?? freshSchema(t)
  const http = client(port, 128)
  const redis = harnessRedis(redisUrl, { maxRetriesPerRequest: 1 })
  // Registered before the node starts, so it runs after the node has stopped (last in, first
  // out): nothing writes under the prefix any more when its keys go. A reused prefix goes too.
  t.teardown(async () => {
    http.close()
    await deleteUnder(redis, prefix).catch(() => {})
    redis.disconnect()
  })
  const env = { ...redisTarget(redisUrl), REDIS_PREFIX: prefix, DATABASE_URL, PG_SCHEMA: pg.schema }
  const node = await startSeckill(t, {
    port,
    workers: opts.workers ?? 2,
    env: { ...env, ...opts.env },
  })
  const server: Server = {
    ...saleApi(http, redis, prefix),
    port,
    prefix,
    proc: node.proc,
    http,
    redis,
    pg,
    output: () => node.output(),
    workers: () => childPids(node.proc.pid!),
    stop: (signal = 'SIGTERM') => node.stop(signal),
  }
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
  const node = launchNode('cluster/primary.js', {
    PORT: String(port),
    HOST: '127.0.0.1',
    WORKERS: '1',
    SECKILL_ADMIN_TOKEN: 'x'.repeat(20),
    // The refusals these tests expect are those of a node told where its stores are.
    LOCAL_SERVICES: 'off',
    ...env,
  })
  return untilExit(node, 15_000)
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
      ...redisTarget(d.redisUrl),
      REDIS_PREFIX: d.prefix,
      DATABASE_URL,
      PG_SCHEMA: d.schema,
    },
    encoding: 'utf8',
    timeout: 20000,
  })
  return { code: r.status, out: r.stdout + r.stderr }
}
