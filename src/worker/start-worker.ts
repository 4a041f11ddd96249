import { buyerTokens } from '../buyer-token'
import type { Config } from '../config'
import { createPool, pgOptionsOf } from '../db/pg'
import { buildApp } from '../http/app'
import { clientGone, settle } from '../http/purchase-routes'
import { RateLimiter, type RateLimits } from '../http/rate-limit'
import type { Channel, ToPrimary, ToWorker } from '../ipc'
import { configureLog, log } from '../log'
import { batchSize, setDeskSource } from '../metrics'
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
const TICK_MS = 20

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
  const redis = await connectRedis(config.REDIS_URL, name, config.REDIS_TIMEOUT_MS)
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
  primary.listen(desks, rate)
  rate.user.start()
  rate.ip.start()
  const tick = setInterval(() => pipeline.tick(now()), TICK_MS)

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
    // Stop accepting; let attempts already collected get their answers from Redis; then go.
    uws.us_listen_socket_close(socket)
    await pipeline.stop()
    clearInterval(tick)
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

function listen(app: TemplatedApp, host: string, port: number): Promise<us_listen_socket> {
  return new Promise((resolve, reject) =>
    app.listen(host, port, (socket) =>
      socket ? resolve(socket) : reject(new Error(`cannot listen on ${host}:${port}`)),
    ),
  )
}
