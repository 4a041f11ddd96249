import { saleKeys } from '../src/store/keys'
import type { RedisClient } from '../src/store/redis-client'

/**
 * Hands out stock quota to the workers of this node (the "local stock" of the 12306 article).
 *
 * Redis's remaining count is the truth; the lessor subtracts what its workers already hold or
 * have in flight (their last reports) and grants at most a fair share of the rest, capped by
 * QUOTA_CHUNK. Quota is only a filter in front of reserve-6.lua: a stale report can make a grant
 * too small (the worker asks again) or too large (Redis refuses the extra), never oversell.
 * A dead worker's reports are dropped, so its quota returns to the pool (no undersell). When
 * nothing is left to grant and a worker has buyers waiting, the lessor asks the worker holding
 * the most unused quota to give half of it back.
 */
export type WorkerId = number

export interface Report {
  have: number
  inflight: number
}

export interface Grant {
  readonly units: number
  readonly soldOut: boolean
  /**
   * the sale's `returned` counter read with soldOut: the grant reaches the worker later, maybe
   * after units came on sale (a cancel, a top-up of the stock); the worker ignores a sold-out
   * older than what it has seen
   */
  readonly returned: number
  /** ask this worker to give back this many units, for the requester's waiting buyers */
  readonly release?: { readonly worker: WorkerId; readonly units: number }
}

export class QuotaLessor {
  private readonly reports = new Map<string, Map<WorkerId, Report>>()
  /** one decision at a time per sale, so two requests never split the same pool twice */
  private readonly chains = new Map<string, Promise<unknown>>()

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly chunk: number,
    private readonly liveWorkers: () => number,
  ) {}

  need(
    w: WorkerId,
    saleId: string,
    have: number,
    inflight: number,
    parked: number,
  ): Promise<Grant> {
    const prev = this.chains.get(saleId) ?? Promise.resolve()
    const next = prev.then(() => this.decide(w, saleId, { have, inflight }, parked))
    const settled = next.catch(() => undefined)
    this.chains.set(saleId, settled)
    settled.then(() => {
      if (this.chains.get(saleId) === settled) this.chains.delete(saleId)
    })
    return next
  }

  report(w: WorkerId, saleId: string, have: number, inflight: number): void {
    this.salesReports(saleId).set(w, { have, inflight })
  }

  /** A worker is gone: whatever it held goes back to the pool. */
  forget(w: WorkerId): void {
    for (const reports of this.reports.values()) reports.delete(w)
  }

  private salesReports(saleId: string): Map<WorkerId, Report> {
    let r = this.reports.get(saleId)
    if (!r) {
      r = new Map()
      this.reports.set(saleId, r)
    }
    return r
  }

  private async decide(w: WorkerId, saleId: string, r: Report, parked: number): Promise<Grant> {
    const reports = this.salesReports(saleId)
    reports.set(w, r)
    const [stock, sold, returned] = await this.redis.hmget(
      saleKeys(this.prefix, saleId).sale,
      'stock',
      'sold',
      'returned',
    )
    const sale =
      stock === null
        ? null
        : { remaining: Number(stock) - Number(sold ?? 0), returned: Number(returned ?? 0) }
    const g = grantFor(sale, reports, w, parked, this.chunk, this.liveWorkers())
    if (g.units > 0) reports.set(w, { have: r.have + g.units, inflight: r.inflight })
    return g
  }
}

/**
 * The lessor's decision, pure: what worker `w` (its report already in `reports`) gets from a
 * sale with `remaining` units in Redis (null: no such sale), given what every worker of the node
 * holds or has in flight, `parked` buyers waiting at `w`, the chunk and the live worker count.
 */
export function grantFor(
  sale: { readonly remaining: number; readonly returned: number } | null,
  reports: ReadonlyMap<WorkerId, Report>,
  w: WorkerId,
  parked: number,
  chunk: number,
  liveWorkers: number,
): Grant {
  const returned = sale?.returned ?? 0
  if (sale === null) return { units: 0, soldOut: false, returned }
  const { remaining } = sale
  if (remaining <= 0) return { units: 0, soldOut: true, returned }
  let held = 0
  for (const r of reports.values()) held += r.have + r.inflight
  const pool = remaining - held
  if (pool > 0) {
    const fair = Math.ceil(remaining / Math.max(1, liveWorkers))
    return { units: Math.min(chunk, pool, fair), soldOut: false, returned }
  }
  if (parked === 0) return { units: 0, soldOut: false, returned }
  // Ask the worker holding the most unused quota for half of it. A worker holding none but
  // last seen with attempts in flight is asked too, for 0 units: it reports only when it needs
  // quota, so those attempts may have been answered long ago and the pool only looks empty
  // (buyers would wait out PARK_TIMEOUT_MS while Redis has units). Its answer refreshes its
  // report, and the waiting worker's next request (its retry tick) sees what is really left.
  let richest: WorkerId | null = null
  let most = -1
  for (const [id, r] of reports) {
    if (id !== w && r.have + r.inflight > 0 && r.have > most) {
      richest = id
      most = r.have
    }
  }
  if (richest === null) return { units: 0, soldOut: false, returned }
  return {
    units: 0,
    soldOut: false,
    returned,
    release: { worker: richest, units: Math.ceil(most / 2) },
  }
}
