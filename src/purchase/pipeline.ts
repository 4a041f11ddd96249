import type { Config } from '../config'
import { listSaleIds, readSales } from '../sale/sale-store'
import { redisTargetOf } from '../store/redis'
import type { ScriptedRedis } from '../store/scripts'
import type { Attempt, Settle } from './attempt'
import { Batcher } from './batcher'
import { Desks } from './desks'
import { createReserver, type Reserver } from './reserver'

/**
 * The purchase pipeline of one worker, built in one place: a sale's desk (gate, sold-out flag,
 * stock quota) → the batcher (one reserve-6.lua call per sale per window) → the reserver (where
 * that call runs: inline or on a Piscina thread) → back to the desk, which answers the buyer.
 *
 *   HTTP route ──admit──▶ SaleDesk ──send──▶ Batcher ──run──▶ Reserver ──▶ Redis
 *                             ▲                 │
 *                             └────onReply──────┘──▶ Buyers.settle (the HTTP layer answers)
 */

/** How the buyer behind an attempt is answered; the HTTP layer provides it. */
export interface Buyers {
  readonly settle: Settle
  /** the attempt's client went away before it was answered */
  gone(a: Attempt): boolean
}

/** Where a desk asks for stock quota and reports a sell-out: the primary, over IPC. */
export interface QuotaSource {
  need(saleId: string, have: number, inflight: number, parked: number): void
  soldOut(saleId: string): void
}

export interface PipelineDeps {
  readonly redis: ScriptedRedis
  readonly buyers: Buyers
  readonly quota: QuotaSource
  /** epoch ms on Redis's clock */
  now(): number
  /** each batch's size as it goes out (metrics) */
  onBatch?(size: number): void
}

export interface Pipeline {
  readonly desks: Desks
  /** Read every sale from Redis (before the worker takes traffic). */
  loadSales(): Promise<void>
  /** Refuse waiting buyers, let every batch already collected get its answer, then close. */
  stop(): Promise<void>
}

/**
 * The retry tick: answers attempts parked too long and re-asks for quota still unanswered. It
 * runs only while some desk has buyers waiting or a request out (SaleDesk.busy): an idle worker
 * with 1,000 sales would otherwise visit 1,000 desks 50 times a second for nothing.
 */
const TICK_MS = 20

export async function createPipeline(config: Config, deps: PipelineDeps): Promise<Pipeline> {
  const reserver: Reserver = await createReserver({
    mode: config.RESERVE_MODE,
    threads: config.PISCINA_THREADS,
    redis: redisTargetOf(config),
    redisTimeoutMs: config.REDIS_TIMEOUT_MS,
    prefix: config.REDIS_PREFIX,
  })
  const batcher = new Batcher({
    mode: config.BATCH_MODE,
    windowUs: config.BATCH_WINDOW_US,
    max: config.BATCH_MAX,
    inFlight: config.BATCH_IN_FLIGHT,
    timeoutMs: config.PURCHASE_TIMEOUT_MS,
    run: (batch) => reserver.run(batch),
    sinkOf: (saleId) => desks.get(saleId)!,
    onFlush: deps.onBatch,
  })
  const desks: Desks = new Desks(deps.redis, config.REDIS_PREFIX, {
    // Ask for more before the quota runs dry, so buyers rarely wait for a grant.
    lowWater: Math.max(1, Math.floor(config.QUOTA_CHUNK / 4)),
    parkMax: config.PARK_MAX,
    parkTimeoutMs: config.PARK_TIMEOUT_MS,
    now: deps.now,
    enqueue: (a) => batcher.add(a),
    settle: deps.buyers.settle,
    gone: deps.buyers.gone,
    need: (saleId, have, inflight, parked) => deps.quota.need(saleId, have, inflight, parked),
    soldOut: (saleId) => deps.quota.soldOut(saleId),
    busy: () => arm(),
  })
  let tickTimer: NodeJS.Timeout | null = null
  let stopped = false
  function arm(): void {
    if (tickTimer === null && !stopped) tickTimer = setTimeout(tick, TICK_MS)
  }
  function tick(): void {
    tickTimer = null
    const nowMs = deps.now()
    let again = false
    for (const desk of desks.all()) {
      desk.expireParked(nowMs)
      desk.retryNeed()
      if (desk.waiting) again = true
    }
    if (again) arm()
  }
  return {
    desks,
    async loadSales() {
      const prefix = config.REDIS_PREFIX
      const ids = await listSaleIds(deps.redis, prefix)
      for (const sale of await readSales(deps.redis, prefix, ids)) desks.upsert(sale)
    },
    async stop() {
      stopped = true
      if (tickTimer !== null) clearTimeout(tickTimer)
      for (const desk of desks.all()) desk.refuseWaiting()
      await batcher.idle()
      await reserver.close()
    },
  }
}
