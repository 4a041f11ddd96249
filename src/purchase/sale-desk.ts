import { type SaleRecord, saleGate } from '../sale/sale-record'
import type { ReserveResult } from '../store/lua/reserve'
import type { Attempt, Outcome, Settle } from './attempt'
import { FixedQueue } from './fixed-queue'

/**
 * A worker's local view of one sale: the gate, the sold-out flag and the stock quota.
 *
 * The quota is a traffic filter, never an authority: an attempt reaches Redis only while the
 * worker holds quota for it, so Redis sees about as many attempts as there is stock. Every rule
 * here can only make the worker refuse more (a false negative), never sell more: reserve-6.lua
 * decides. Attempts that find all quota in flight wait (parked) instead of being told "sold out"
 * while stock may yet come back from a refused attempt.
 */
export interface DeskDeps {
  readonly lowWater: number
  readonly parkMax: number
  readonly parkTimeoutMs: number
  /** epoch ms on Redis's clock */
  now(): number
  enqueue(a: Attempt): void
  settle: Settle
  /** the attempt's client went away before it was answered (the HTTP layer knows) */
  gone(a: Attempt): boolean
  /** ask the primary for quota; `parked` > 0 means buyers are waiting */
  need(saleId: string, have: number, inflight: number, parked: number): void
  soldOut(saleId: string): void
  /** buyers are parked or a quota request is out: the retry tick (pipeline.ts) must run */
  busy?(): void
}

/** A quota request unanswered this long (the primary restarted, a message was lost) is re-sent. */
const NEED_RETRY_MS = 1000

export class SaleDesk {
  record: SaleRecord
  soldOut: boolean
  quota = 0
  inflight = 0
  /**
   * the highest `returned` counter seen: only a rise clears the sold-out flag. It rises whenever
   * units come on sale after the start: a cancelled or expired order, a recount, a top-up of the
   * stock (adjustStock-1.lua), so it also orders copies and grants read around a top-up.
   */
  private returnedSeen: number
  private needSent = false
  /** when the unanswered quota request went out; one lost on the way is retried after NEED_RETRY_MS */
  private needSentAt = 0
  /** the last grant was empty: ask again only for waiting buyers, on the retry tick */
  private starved = false
  private admitted = false
  /** closed by hand or past endsAt (both final), as of the last look: nothing to ask for */
  private closedForGood = false
  private readonly parked = new FixedQueue<Attempt>()

  constructor(
    record: SaleRecord,
    private readonly deps: DeskDeps,
  ) {
    this.record = record
    this.soldOut = record.sold >= record.stock
    this.returnedSeen = record.returned
    this.askIfNeeded()
  }

  get parkedCount(): number {
    return this.parked.length
  }

  /** Buyers wait or a quota request is out: the retry tick has work here. */
  get waiting(): boolean {
    return this.needSent || this.parked.length > 0
  }

  /** Why an attempt is refused at once, with no Redis call; null when it may go on. */
  refusal(nowMs: number): 'not_started' | 'closed' | 'sold_out' | null {
    const gate = saleGate(this.record, nowMs)
    if (gate !== 'open') return gate
    return this.soldOut ? 'sold_out' : null
  }

  /** Take quota and send the attempt on, or park it until quota comes back. */
  admit(a: Attempt): void {
    this.admitted = true
    if (this.parked.length === 0 && this.quota >= a.quantity) {
      this.send(a)
    } else if (this.parked.length < this.deps.parkMax) {
      a.parkedAt = this.deps.now()
      this.parked.push(a)
      this.deps.busy?.()
    } else {
      this.deps.settle(a, 'rate_limited', null, this.record.id, false)
    }
    this.askIfNeeded()
  }

  /** reserve-6.lua answered for this attempt. */
  onReply(a: Attempt, r: ReserveResult): void {
    this.inflight -= a.quantity
    // Only a new order consumes the quota; every other answer gives it back.
    if (r.outcome !== 'reserved') this.quota += a.quantity
    const remaining = r.remaining
    if (this.quota > remaining) this.quota = Math.max(0, remaining)
    if (remaining <= 0 && !this.soldOut) this.markSoldOut(true)
    this.deps.settle(a, r.outcome, r.order, this.record.id, true)
    this.drain()
  }

  /**
   * The batch got no answer: never sent (unavailable), or sent and unanswered in time
   * (outcome_unknown: Redis may have reserved it). Either way the quota comes back: it only
   * filters, and if Redis did sell the unit, Redis refuses the attempts that unit would cover.
   */
  onFailure(a: Attempt, code: 'unavailable' | 'outcome_unknown'): void {
    this.inflight -= a.quantity
    this.quota += a.quantity
    this.deps.settle(a, code, null, this.record.id, false)
    // Waiting buyers go on with the quota that came back: they get their own answer (a sale,
    // or 503 as well while Redis is down) rather than waiting out PARK_TIMEOUT_MS.
    this.drain()
  }

  /**
   * Just before its batch goes out: an attempt whose client is gone is not sent (nobody could be
   * told the outcome) and its quota comes back for the buyers still waiting.
   */
  withdraw(a: Attempt): boolean {
    if (!this.deps.gone(a)) return false
    this.inflight -= a.quantity
    this.quota += a.quantity
    this.drain()
    return true
  }

  /**
   * The primary granted quota (possibly 0 units). Its sold-out was read in Redis with the sale's
   * `returned` counter: if units have come back since (this desk saw a higher counter), the
   * grant is older than that and its sold-out no longer holds.
   */
  grant(units: number, soldOut: boolean, returned: number): void {
    this.needSent = false
    this.quota += units
    this.starved = units === 0
    if (soldOut && returned >= this.returnedSeen) this.markSoldOut(false)
    this.drain()
    if (!this.starved) this.askIfNeeded()
  }

  /** The primary moves quota to a worker whose buyers are waiting; returns what was given up. */
  release(units: number): number {
    const given = Math.min(units, this.quota)
    this.quota -= given
    // Given away for another worker's waiting buyers: ask again only for buyers of our own, on
    // the retry tick (as after an empty grant). Asking back at once, low on quota, would pull the
    // same units to and fro between the two workers while the waiting buyer times out.
    if (given > 0) this.starved = true
    return given
  }

  /** A fresh copy of the sale's hash arrived. */
  update(record: SaleRecord): void {
    this.record = record
    if (record.sold >= record.stock) {
      // A copy read before units came back (a lower `returned` than seen) is stale: it must not
      // set a sold-out that no later return would clear.
      if (!this.soldOut && record.returned >= this.returnedSeen) this.markSoldOut(false)
    } else if (record.returned > this.returnedSeen) {
      // Units came on sale (a cancel, an expiry, a top-up): sell again, and ask for quota now
      // rather than on the retry tick, also when the last grant was empty. A stale copy (no
      // rise) never clears the flag.
      this.soldOut = false
      this.starved = false
    }
    this.returnedSeen = Math.max(this.returnedSeen, record.returned)
    const gate = saleGate(record, this.deps.now())
    this.closedForGood = gate === 'closed'
    if (gate === 'closed') this.refuseParked('closed')
    this.askIfNeeded()
  }

  /** Answer parked attempts that waited too long for quota. */
  expireParked(nowMs: number): void {
    let a = this.parked.peek()
    while (a && nowMs - a.parkedAt >= this.deps.parkTimeoutMs) {
      this.parked.shift()
      this.deps.settle(a, 'unavailable', null, this.record.id, false)
      a = this.parked.peek()
    }
  }

  /** The worker is stopping: waiting buyers get 503 now, to retry on another worker. */
  refuseWaiting(): void {
    this.refuseParked('unavailable')
  }

  /** Retry a quota request that got nothing while buyers still wait. */
  retryNeed(): void {
    if (this.needSent) {
      if (this.deps.now() - this.needSentAt < NEED_RETRY_MS) return
      this.needSent = false
    }
    this.askIfNeeded(true)
  }

  private send(a: Attempt): void {
    this.quota -= a.quantity
    this.inflight += a.quantity
    a.parkedAt = 0
    this.deps.enqueue(a)
  }

  private drain(): void {
    let a = this.parked.peek()
    while (a && this.quota >= a.quantity) {
      this.parked.shift()
      this.send(a)
      a = this.parked.peek()
    }
    if (this.soldOut) this.refuseParked('sold_out')
  }

  private markSoldOut(tellPrimary: boolean): void {
    this.soldOut = true
    this.quota = 0
    this.refuseParked('sold_out')
    if (tellPrimary) this.deps.soldOut(this.record.id)
  }

  private refuseParked(outcome: Outcome): void {
    for (let a = this.parked.shift(); a; a = this.parked.shift()) {
      this.deps.settle(a, outcome, null, this.record.id, false)
    }
  }

  private askIfNeeded(fromTick = false): void {
    if (this.needSent || this.soldOut) return
    // Starved: every worker's quota is spoken for. Ask again only on the retry tick, and only
    // for buyers who wait, or a storm would turn into a storm of quota requests.
    if (this.starved && (!fromTick || this.parked.length === 0)) return
    const low = this.quota < this.deps.lowWater
    // Before any buyer came, ask once so the first ones need not wait; after that, ask only for
    // real demand, so an idle worker never pulls quota back from a busy one.
    const wanted = this.parked.length > 0 || (low && (this.admitted || this.quota === 0))
    // The retry tick visits every desk 50 times a second: the clock is read only when there is
    // something to ask for, and a sale closed for good (by hand, or past endsAt) never asks.
    if (!wanted || this.closedForGood) return
    if (saleGate(this.record, this.deps.now()) === 'closed') {
      this.closedForGood = true
      return
    }
    this.needSent = true
    this.needSentAt = this.deps.now()
    this.deps.need(this.record.id, this.quota, this.inflight, this.parked.length)
    this.deps.busy?.()
  }
}
