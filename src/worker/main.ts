import { buyerTokens } from '../buyer-token'
import { loadConfig } from '../config'
import { createPool } from '../db/pg'
import { buildApp } from '../http/app'
import { clientGone, settle } from '../http/purchase-routes'
import { RateLimiter, type RateLimits } from '../http/rate-limit'
import type { ToPrimary, ToWorker } from '../ipc'
import { die, log } from '../log'
import { batchSize, setDeskSource } from '../metrics'
import { Batcher } from '../purchase/batcher'
import { createReserver } from '../purchase/reserver'
import { connectRedis } from '../store/redis'
import { listSaleIds, readSales } from '../store/sales'
import { type us_listen_socket, uws } from '../uws'
import { Desks } from './desks'

/**
 * A uWS worker process: one per core, all listening on PORT with SO_REUSEPORT (uSockets' default
 * on Linux), forked by the primary in cluster/. Entry file: it only wires the parts together.
 */
const TICK_MS = 20

function send(msg: ToPrimary): void {
  process.send?.(msg)
}

async function main(): Promise<void> {
  const config = loadConfig()
  const redis = await connectRedis(
    config.REDIS_URL,
    `seckill-worker-${process.pid}`,
    config.REDIS_TIMEOUT_MS,
  )
  // Order lookups only: connects on first use, so the purchase path never waits for PostgreSQL.
  const pg = createPool({
    url: config.DATABASE_URL,
    schema: config.PG_SCHEMA,
    max: config.PG_POOL_MAX,
    name: `seckill-worker-${process.pid}`,
  })
  const reserver = await createReserver({
    mode: config.RESERVE_MODE,
    threads: config.PISCINA_THREADS,
    redisUrl: config.REDIS_URL,
    redisTimeoutMs: config.REDIS_TIMEOUT_MS,
    prefix: config.REDIS_PREFIX,
  })

  let clockOffsetMs = 0
  const now = () => Date.now() + clockOffsetMs
  const batcher = new Batcher({
    windowUs: config.BATCH_WINDOW_US,
    max: config.BATCH_MAX,
    timeoutMs: config.PURCHASE_TIMEOUT_MS,
    run: (batch) => reserver.run(batch),
    sinkOf: (saleId) => desks.get(saleId)!,
    onFlush: (size) => batchSize.observe(size),
  })
  const desks: Desks = new Desks(redis, config.REDIS_PREFIX, {
    lowWater: Math.max(1, Math.floor(config.QUOTA_CHUNK / 4)),
    parkMax: config.PARK_MAX,
    parkTimeoutMs: config.PARK_TIMEOUT_MS,
    now,
    enqueue: (a) => batcher.add(a),
    settle,
    gone: clientGone,
    need: (saleId, have, inflight, parked) => send({ t: 'need', saleId, have, inflight, parked }),
    soldOut: (saleId) => send({ t: 'sold-out', saleId }),
  })

  // Requests to the primary that wait for its answer, by id.
  let nextAsk = 1
  const acks = new Map<number, () => void>()
  const metricsWaiters = new Map<number, (text: string) => void>()
  const changed = (saleId: string) =>
    new Promise<void>((resolve) => {
      const id = nextAsk++
      acks.set(id, resolve)
      send({ t: 'changed', id, saleId })
    })
  const metrics = () =>
    new Promise<string>((resolve) => {
      const id = nextAsk++
      metricsWaiters.set(id, resolve)
      send({ t: 'metrics', id })
    })
  // Node-wide limits: counted here, summed by the primary (cluster/rate-board.ts).
  const rate: RateLimits = {
    user: new RateLimiter({ kind: 'user', perSecond: config.RATE_LIMIT_PER_USER, report: send }),
    ip: new RateLimiter({ kind: 'ip', perSecond: config.RATE_LIMIT_PER_IP, report: send }),
  }
  rate.user.start()
  rate.ip.start()
  // Signed buyer identity, verified here (no Redis call); null when ids are asserted.
  const buyers = buyerTokens(config)
  setDeskSource(() =>
    Array.from(desks.all(), (d) => ({ id: d.record.id, quota: d.quota, parked: d.parkedCount })),
  )

  process.on('message', (msg: ToWorker) => {
    switch (msg.t) {
      case 'sale':
        clockOffsetMs = msg.clockOffsetMs
        desks.upsert(msg.sale)
        if (msg.sync !== undefined) send({ t: 'synced', sync: msg.sync })
        break
      case 'grant':
        desks.get(msg.saleId)?.grant(msg.units, msg.soldOut, msg.returned)
        break
      case 'release': {
        const desk = desks.get(msg.saleId)
        const units = desk ? desk.release(msg.units) : 0
        send({
          t: 'released',
          saleId: msg.saleId,
          units,
          have: desk?.quota ?? 0,
          inflight: desk?.inflight ?? 0,
        })
        break
      }
      case 'ack':
        acks.get(msg.id)?.()
        acks.delete(msg.id)
        break
      case 'metrics':
        metricsWaiters.get(msg.id)?.(msg.text)
        metricsWaiters.delete(msg.id)
        break
      case 'rate-over':
        rate[msg.kind].block(msg.window, msg.keys)
        break
    }
  })

  const tick = setInterval(() => {
    const t = now()
    for (const desk of desks.all()) {
      desk.expireParked(t)
      desk.retryNeed()
    }
  }, TICK_MS)

  const app = buildApp({ config, redis, pg, desks, rate, buyers, now, changed, metrics })
  // Know every sale before taking traffic: the primary's copies come only after 'ready', and a
  // /buy/ticket answered before them would say "sold out" for a sale that is on sale (seen
  // when a node restarted mid-sale).
  for (const sale of await readSales(
    redis,
    config.REDIS_PREFIX,
    await listSaleIds(redis, config.REDIS_PREFIX),
  ))
    desks.upsert(sale)
  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) =>
    app.listen(config.HOST, config.PORT, (sock) =>
      sock ? resolve(sock) : reject(new Error(`cannot listen on ${config.HOST}:${config.PORT}`)),
    ),
  )
  send({ t: 'ready' })
  log.debug({ port: config.PORT }, 'worker listening')

  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    // Stop accepting; let attempts already collected get their answers from Redis; then go.
    uws.us_listen_socket_close(listenSocket)
    const deadline = setTimeout(() => {
      log.warn({ signal }, 'graceful stop timed out; exiting')
      process.exit(1)
    }, config.SHUTDOWN_TIMEOUT_MS)
    deadline.unref()
    for (const desk of desks.all()) desk.refuseWaiting()
    await batcher.idle()
    clearInterval(tick)
    rate.user.stop()
    rate.ip.stop()
    await reserver.close()
    await pg.end().catch(() => {})
    redis.disconnect()
    process.exit(0)
  }
  process.on('SIGTERM', () => void stop('SIGTERM'))
  process.on('SIGINT', () => void stop('SIGINT'))
  // The primary is gone: nobody will restart or feed this worker any more.
  process.on('disconnect', () => void stop('disconnect'))
}

main().catch((err: Error) => die(`worker ${process.pid}: ${err.message}`))
