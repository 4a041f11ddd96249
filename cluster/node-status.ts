import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Pool } from 'pg'
import type { Config } from '../src/config'
import type { NodeStatus, SaleStatus } from '../src/control/protocol'
import { runFiles } from '../src/control/run-files'
import { saleView } from '../src/sale/sale-record'
import { redactUrl } from '../src/store/redis'
import type { RedisClient } from '../src/store/redis-client'
import { writerBacklog, writerLag } from './primary-metrics'
import type { SaleWatch } from './sale-watch'
import type { WorkerHub } from './worker-hub'

/** What `seckill status` shows (src/control/protocol.ts), gathered by the primary. */
export interface StatusParts {
  readonly config: Config
  readonly configFile: string | null
  readonly startedAt: number
  readonly redis: RedisClient
  readonly pg: Pool
  readonly hub: WorkerHub
  readonly watch: SaleWatch
}

/** A store that does not answer a probe within this is reported unreachable. */
const PROBE_MS = 1000

const VERSION = (
  JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8')) as { version: string }
).version

export async function nodeStatus(p: StatusParts): Promise<NodeStatus> {
  const { config } = p
  const now = Date.now()
  const [redisUp, pgUp, sales] = await Promise.all([
    answers(p.redis.ping()),
    answers(p.pg.query('SELECT 1')),
    saleStatus(p.watch, now + p.watch.clockOffsetMs),
  ])
  return {
    node: {
      pid: process.pid,
      version: VERSION,
      uptimeS: Math.round((now - p.startedAt) / 1000),
      serving: p.hub.serving,
      host: config.HOST,
      port: config.PORT,
      workers: config.WORKERS,
      configFile: p.configFile,
      runDir: runFiles(config).dir,
      logFile: config.LOG_FILE === '' ? null : config.LOG_FILE,
      redis: { url: redactUrl(config.REDIS_URL), reachable: redisUp },
      postgres: { schema: config.PG_SCHEMA, reachable: pgUp },
      tcpMigrateReq: tcpMigrateReq(),
      reloading: p.hub.reloading,
      recycled: p.hub.recycled,
    },
    workers: p.hub.workerStatus(now),
    sales,
  }
}

function answers(probe: Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), PROBE_MS)
  })
  return Promise.race([
    probe.then(
      () => true,
      () => false,
    ),
    late,
  ]).finally(() => clearTimeout(timer))
}

/** The sales still live (not closed), and closed ones whose orders are not all written yet. */
async function saleStatus(watch: SaleWatch, nowMs: number): Promise<SaleStatus[]> {
  const [backlog, lag] = await Promise.all([writerBacklog.get(), writerLag.get()])
  const bySale = (m: typeof backlog) =>
    new Map(m.values.map((v) => [String(v.labels.sale), v.value]))
  const backlogs = bySale(backlog)
  const lags = bySale(lag)
  const out: SaleStatus[] = []
  for (const sale of watch.all()) {
    const view = saleView(sale, nowMs)
    const writerBacklog = backlogs.get(sale.id) ?? 0
    if (view.state === 'closed' && writerBacklog === 0) continue
    out.push({
      id: sale.id,
      state: view.state,
      stock: view.stock,
      sold: view.sold,
      remaining: view.remaining,
      writerBacklog,
      writerLagS: lags.get(sale.id) ?? 0,
    })
  }
  return out.sort((a, b) => a.id.localeCompare(b.id))
}

/** Without it the kernel resets connections queued on a worker's closing listener (reload). */
function tcpMigrateReq(): number | null {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim())
  } catch {
    return null
  }
}
