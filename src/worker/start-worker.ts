import { buyerTokens } from '../buyer-token'
import type { Config } from '../config'
import { createPool, pgOptionsOf } from '../db/pg'
import { buildApp } from '../http/app'
import { DashboardStream } from '../http/dashboard-stream'
import { drainConnections, requestsServed } from '../http/framing'
import { clientGone, settle } from '../http/purchase-routes'
import { RateLimiter, type RateLimits } from '../http/rate-limit'
import type { Channel, ToPrimary, ToWorker, WorkerStats } from '../ipc'
import { configureLog, log } from '../log'
import { batchSize, setDeskSource } from '../metrics'
import type { Desks } from '../purchase/desks'
import { createPipeline } from '../purchase/pipeline'
import { connectRedis } from '../store/redis'
import { type TemplatedApp, type us_listen_socket, uws } from '../uws'
import { PrimaryLink } from './primary-link'

/**
 * A uWS worker: the HTTP routes of API.md in front of the purchase pipeline, listening on PORT
 * with SO_REUSEPORT (uSockets' default on Linux), so every worker of the node shares the port.
 * Forked by the primary (cluster/) with the process's IPC channel; a test can start one in its
 * own process with a channel of its own and play the primary.
 */
/** How often the worker tells the primary its RSS, CPU and counts (status, recycling). */
const STATS_MS = 1000
/**
 * A stopping worker keeps answering the keep-alive connections it has (each answer closing its
 * connection) until none has sent a request for this long: a client under load sends its next
 * request within a round trip, so this much silence means every busy connection has been told.
 */
const DRAIN_QUIET_MS = 250

export interface WorkerHandle {
  /** the port it listens on */
  readonly port: number
  /** Stop accepting, answer every buyer already admitted, close every connection to the stores. */
  close(): Promise<void>
}

export async function startWorker(
  config: Config,
  channel: Channel<ToPrimary, ToWorker>,
): Promise<WorkerHandle> {
  configureLog(config)
  const name = `seckill-worker-${process.pid}`
  const redis = await connectRedis(config, name, config.REDIS_TIMEOUT_MS)
  // Order lookups only: connects on first use, so the purchase path never waits for PostgreSQL.
  const pg = createPool(pgOptionsOf(config, name, config.PG_POOL_MAX))
  const primary = new PrimaryLink(channel, config.REDIS_TIMEOUT_MS)
  const now = () => Date.now() + primary.clockOffsetMs
  const pipeline = await createPipeline(config, {
    redis,
    buyers: { settle, gone: clientGone },
    quota: primary,
    now,
    onBatch: (size) => batchSize.observe(size),
  })
  const { desks } = pipeline
  // Node-wide limits: counted here, summed by the primary (cluster/rate-board.ts).
  const rate: RateLimits = {
    user: new RateLimiter({
      kind: 'user',
      perSecond: config.RATE_LIMIT_PER_USER,
      report: primary.send,
    }),
    ip: new RateLimiter({ kind: 'ip', perSecond: config.RATE_LIMIT_PER_IP, report: primary.send }),
  }
  // Signed buyer identity, verified here (no Redis call); null when ids are asserted.
  const buyers = buyerTokens(config)
  setDeskSource(() =>
    Array.from(desks.all(), (d) => ({ id: d.record.id, quota: d.quota, parked: d.parkedCount })),
  )
  const dashboard = new DashboardStream(config.SECKILL_ADMIN_TOKEN, (on) =>
    primary.send({ t: 'watch', on }),
  )
  primary.listen(desks, rate, (json) => dashboard.relay(json))
  rate.user.start()
  rate.ip.start()
  const stats = setInterval(() => primary.send({ t: 'stats', ...sampleStats(desks) }), STATS_MS)

  const app = buildApp({
    config,
    redis,
    pg,
    desks,
    rate,
    buyers,
    now,
    changed: primary.changed,
    metrics: primary.metrics,
    dashboard: dashboard.route,
  })
  // Know every sale before taking traffic: the primary's copies come only after 'ready', and a
  // /buy/ticket answered before them would say "sold out" for a sale that is on sale (seen
  // when a node restarted mid-sale).
  await pipeline.loadSales()
  const socket = await listen(app, config.HOST, config.PORT)
  primary.ready()
  const port = uws.us_socket_local_port(socket)
  log.debug({ port }, 'worker listening')

  let closed: Promise<void> | null = null
  const close = async () => {
    // Stop accepting (new connections go to the node's other listeners on the port); answer the
    // connections already open, each answer closing its connection; let attempts already
    // collected get their answers from Redis; then go.
    uws.us_listen_socket_close(socket)
    dashboard.close()
    drainConnections()
    await drained(desks, config.SHUTDOWN_TIMEOUT_MS / 2)
    await pipeline.stop()
    clearInterval(stats)
    rate.user.stop()
    rate.ip.stop()
    await pg.end().catch(() => {})
    redis.disconnect()
  }
  return {
    port,
    close: () => {
      closed ??= close()
      return closed
    },
  }
}

function sampleStats(desks: Desks): WorkerStats {
  const cpu = process.cpuUsage()
  return {
    rssBytes: process.memoryUsage.rss(),
    cpuMicros: cpu.user + cpu.system,
    requests: requestsServed(),
    ...deskTotals(desks),
  }
}

function deskTotals(desks: Desks): { quota: number; inflight: number; parked: number } {
  let quota = 0
  let inflight = 0
  let parked = 0
  for (const d of desks.all()) {
    quota += d.quota
    inflight += d.inflight
    parked += d.parkedCount
  }
  return { quota, inflight, parked }
}

/**
 * Resolves once no request has come for DRAIN_QUIET_MS and no buyer waits for quota, or after
 * `limitMs`: what is still open then is idle, and closes with the process.
 */
async function drained(desks: Desks, limitMs: number): Promise<void> {
  const end = Date.now() + limitMs
  let seen = requestsServed()
  let quietSince = Date.now()
  while (Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    const n = requestsServed()
    if (n !== seen) {
      seen = n
      quietSince = Date.now()
      continue
    }
    const parked = Array.from(desks.all()).some((d) => d.parkedCount > 0)
    if (!parked && Date.now() - quietSince >= DRAIN_QUIET_MS) return
  }
}

function listen(app: TemplatedApp, host: string, port: number): Promise<us_listen_socket> {
  return new Promise((resolve, reject) =>
    app.listen(host, port, (socket) =>
      socket ? resolve(socket) : reject(new Error(`cannot listen on ${host}:${port}`)),
    ),
  )
}
