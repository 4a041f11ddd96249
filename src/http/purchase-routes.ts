import type { BuyerTokens } from '../buyer-token'
import type { Config } from '../config'
import { ERRORS } from '../errors'
import { isIdentifier } from '../identifier'
import { countAnswer } from '../metrics'
import type { Attempt, Outcome } from '../purchase/attempt'
import type { Desks } from '../purchase/desks'
import { newOrderId } from '../purchase/order-id'
import { SaleDesk } from '../purchase/sale-desk'
import type { ReservedOrder } from '../store/lua/reserve'
import type { HttpRequest, HttpResponse } from '../uws'
import { bearerOf, writeUnauthorized } from './buyer-auth'
import { addressOf, type RateLimits } from './rate-limit'
import { JSON_TYPE, laterError, readJson, type TrackedResponse, track, writeError } from './respond'
import {
  describeIssues,
  headerText,
  identifierRule,
  newOrderBody,
  SALE_ID,
  signedOrderBody,
} from './validate'

/**
 * The purchase path: POST /api/v1/sales/:id/orders and the Go reference's /buy/ticket.
 *
 * Refusals (not open, sold out) are decided from the worker's memory before anything else, with
 * a pre-built answer: no Redis call, no body parsing, no allocation beyond uWS's own. Only then
 * the rate limits and the buyer token (signed identity) are looked at, so a storm against a
 * sold-out sale costs no count and no signature check.
 */
export interface PurchaseContext {
  readonly config: Config
  readonly desks: Desks
  readonly rate: RateLimits
  /** signed identity (BUYER_IDENTITY=signed); null: the request's asserted id is the buyer */
  readonly buyers: BuyerTokens | null
  now(): number
}

const COMPAT_REFUSED = Buffer.from('{"code":-1,"msg":"已售罄"}')
/**
 * Redis could not be asked (nothing was reserved): still -1, no ticket, as the reference would
 * answer, but not "sold out", which would send a buyer away from a sale that goes on.
 */
const COMPAT_BUSY = Buffer.from('{"code":-1,"msg":"系统繁忙，请重试"}')
/**
 * The reference has no answer for "sent, no reply in time". Not code 1 (that promises a ticket)
 * and not -1 (that says nothing was bought): 0, with the order id to look up. A client written
 * for the reference treats anything but 1 as no ticket, which is never an oversell.
 */
const COMPAT_UNKNOWN_HEAD = '{"code":0,"msg":"结果未知","data":{"orderId":'
const UNKNOWN_HEAD = `{"error":"outcome_unknown","detail":${JSON.stringify(
  ERRORS.outcome_unknown.detail,
)},"orderId":`

function writeCompatRefused(res: HttpResponse): void {
  res.writeHeader('Content-Type', JSON_TYPE).end(COMPAT_REFUSED)
}

/** Signed identity: the token's subject, or null once the 401 has been written. */
function signedBuyer(buyers: BuyerTokens, req: HttpRequest, res: HttpResponse): string | null {
  const v = buyers.verify(bearerOf(req))
  if (v.userId !== null) return v.userId
  countAnswer('unauthorized', false)
  writeUnauthorized(res, v.refused ?? 'invalid')
  return null
}

/** GET|POST /buy/ticket: one unit of the default sale, always HTTP 200, the reference's JSON. */
export function buyTicketRoute(ctx: PurchaseContext) {
  return (res: HttpResponse, req: HttpRequest): void => {
    const desk = ctx.desks.defaultDesk(ctx.config.DEFAULT_SALE)
    if (desk === undefined) {
      countAnswer('not_found', false)
      return writeCompatRefused(res)
    }
    const refusal = desk.refusal(ctx.now())
    if (refusal !== null) {
      countAnswer(refusal, false)
      return writeCompatRefused(res)
    }
    if (ctx.rate.ip.enabled && ctx.rate.ip.over(addressOf(res))) {
      countAnswer('rate_limited', false)
      return writeCompatRefused(res)
    }
    let userId: string | null
    if (ctx.buyers !== null) {
      // Signed: ?user= and X-User-Id are ignored. A bad token gets the API's 401, not the
      // reference's -1: a client must learn that it has to log in again.
      userId = signedBuyer(ctx.buyers, req, res)
      if (userId === null) return
    } else {
      // uWS decodes the query (percent and UTF-8) but not headers: see headerText.
      const query = req.getQuery('user')
      userId = query ? query : headerText(req.getHeader('x-user-id'))
      // '' stays allowed: an anonymous buyer, as in the reference.
      if (userId === null || (userId !== '' && !isIdentifier(userId))) {
        countAnswer('bad_request', false)
        return writeCompatRefused(res)
      }
    }
    if (ctx.rate.user.over(userId)) {
      countAnswer('rate_limited', false)
      return writeCompatRefused(res)
    }
    const saleId = desk.record.id
    const a: Attempt = {
      res: track(res),
      compat: true,
      saleId,
      userId,
      quantity: 1,
      idemKey: '',
      orderId: newOrderId(saleId),
      parkedAt: 0,
    }
    desk.admit(a)
  }
}

/** POST /api/v1/sales/:id/orders */
export function postOrderRoute(ctx: PurchaseContext) {
  return (res: HttpResponse, req: HttpRequest): void => {
    const saleId = req.getParameter(0)
    // null: bytes that are not UTF-8, refused in order() like any other bad key
    const idemKey = headerText(req.getHeader('idempotency-key'))
    // An id no sale can have costs no Redis lookup.
    const found = SALE_ID.test(saleId) ? ctx.desks.find(saleId) : null
    if (found === null) return writeError(res, 'not_found', `no sale ${saleId}`)
    if (found instanceof SaleDesk) {
      const refusal = found.refusal(ctx.now())
      if (refusal !== null) {
        countAnswer(refusal, false)
        return writeError(res, refusal)
      }
    }
    // Before the body: a flood from one address is refused without reading or parsing it.
    if (ctx.rate.ip.enabled && ctx.rate.ip.over(addressOf(res))) {
      countAnswer('rate_limited', false)
      return writeError(res, 'rate_limited')
    }
    // Signed identity: the buyer is known from the token before the body is read.
    let buyer = ''
    if (ctx.buyers !== null) {
      const signed = signedBuyer(ctx.buyers, req, res)
      if (signed === null) return
      buyer = signed
      if (ctx.rate.user.over(buyer)) {
        countAnswer('rate_limited', false)
        return writeError(res, 'rate_limited')
      }
    }
    const tres = track(res)
    readJson(tres, req, (body) => {
      if (found instanceof SaleDesk) return order(ctx, tres, found, body, idemKey, buyer)
      found.then(
        (desk) => {
          if (desk === null) return laterError(tres, 'not_found', `no sale ${saleId}`)
          order(ctx, tres, desk, body, idemKey, buyer)
        },
        () => laterError(tres, 'unavailable'),
      )
    })
  }
}

function order(
  ctx: PurchaseContext,
  res: TrackedResponse,
  desk: SaleDesk,
  body: unknown,
  idemKey: string | null,
  /** the token's sub under signed identity (already rate-checked); '' when asserted */
  buyer: string,
): void {
  // '' is no key at all (uWS cannot tell an empty header from a missing one).
  if (idemKey === null || (idemKey !== '' && !isIdentifier(idemKey))) {
    return laterError(res, 'bad_request', identifierRule('Idempotency-Key'))
  }
  const parsed = (buyer === '' ? newOrderBody : signedOrderBody).safeParse(body)
  if (!parsed.success) return laterError(res, 'bad_request', describeIssues(parsed.error))
  const { quantity } = parsed.data
  const userId = buyer === '' ? (parsed.data.userId as string) : buyer
  const limit = desk.record.perUserLimit
  if (quantity > limit) {
    return laterError(res, 'bad_request', `quantity must be at most perUserLimit (${limit})`)
  }
  const refusal = desk.refusal(ctx.now())
  if (refusal !== null) return laterError(res, refusal)
  if (buyer === '' && ctx.rate.user.over(userId)) return laterError(res, 'rate_limited')
  const saleId = desk.record.id
  desk.admit({
    res,
    compat: false,
    saleId,
    userId,
    quantity,
    idemKey,
    orderId: newOrderId(saleId),
    parkedAt: 0,
  })
}

/** How every purchase attempt is answered, once, when its outcome is known. */
export function settle(
  a: Attempt,
  outcome: Outcome,
  order: ReservedOrder | null,
  saleId: string,
  byRedis: boolean,
): void {
  countAnswer(outcome, byRedis)
  const res = a.res as TrackedResponse
  if (res.aborted) return
  res.aborted = true
  res.cork(() => {
    if (outcome === 'outcome_unknown') return writeUnknown(res, a)
    if (a.compat) return writeCompat(res, outcome, order)
    if (order === null || (outcome !== 'reserved' && outcome !== 'replayed')) {
      return writeError(
        res,
        outcome === 'reserved' || outcome === 'replayed' ? 'internal' : outcome,
      )
    }
    const body = JSON.stringify({
      orderId: order.orderId,
      saleId,
      userId: a.userId,
      quantity: order.quantity,
      status: 'reserved',
      expiresAt: new Date(order.expiresAt).toISOString(),
    })
    res
      .writeStatus(outcome === 'reserved' ? '201 Created' : '200 OK')
      .writeHeader('Content-Type', JSON_TYPE)
      .end(body)
  })
}

/** Sent to Redis, no answer in time: say so, with the id the order has if it was made. */
function writeUnknown(res: HttpResponse, a: Attempt): void {
  const id = JSON.stringify(a.orderId)
  if (a.compat) {
    res.writeHeader('Content-Type', JSON_TYPE).end(`${COMPAT_UNKNOWN_HEAD}${id}}}`)
    return
  }
  res
    .writeStatus(ERRORS.outcome_unknown.status)
    .writeHeader('Content-Type', JSON_TYPE)
    .end(`${UNKNOWN_HEAD}${id}}`)
}

function writeCompat(res: HttpResponse, outcome: Outcome, order: ReservedOrder | null): void {
  if ((outcome === 'reserved' || outcome === 'replayed') && order !== null) {
    res
      .writeHeader('Content-Type', JSON_TYPE)
      .end(`{"code":1,"msg":"抢票成功","data":{"orderId":${JSON.stringify(order.orderId)}}}`)
    return
  }
  if (outcome === 'unavailable') {
    res.writeHeader('Content-Type', JSON_TYPE).end(COMPAT_BUSY)
    return
  }
  writeCompatRefused(res)
}

/** The attempt's client went away (uWS onAborted) before it was answered. */
export function clientGone(a: Attempt): boolean {
  return (a.res as TrackedResponse).aborted === true
}
