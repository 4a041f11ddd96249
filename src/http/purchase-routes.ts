import type { Config } from '../config'
import { countAnswer } from '../metrics'
import type { Attempt, Outcome } from '../purchase/attempt'
import { newOrderId } from '../purchase/order-id'
import { SaleDesk } from '../purchase/sale-desk'
import type { ReserveReply } from '../store/scripts'
import type { HttpRequest, HttpResponse } from '../uws'
import type { Desks } from '../worker/desks'
import type { RateLimiter } from './rate-limit'
import { JSON_TYPE, laterError, readJson, type TrackedResponse, track, writeError } from './respond'
import { describeIssues, newOrderBody, SALE_ID } from './validate'

/**
 * The purchase path: POST /api/v1/sales/:id/orders and the Go reference's /buy/ticket.
 *
 * Refusals (not open, sold out) are decided from the worker's memory before anything else, with
 * a pre-built answer: no Redis call, no body parsing, no allocation beyond uWS's own.
 */
export interface PurchaseContext {
  readonly config: Config
  readonly desks: Desks
  readonly rate: RateLimiter
  now(): number
}

const COMPAT_REFUSED = Buffer.from('{"code":-1,"msg":"已售罄"}')

function writeCompatRefused(res: HttpResponse): void {
  res.writeHeader('Content-Type', JSON_TYPE).end(COMPAT_REFUSED)
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
    let userId = req.getQuery('user') ?? ''
    if (userId === '') userId = req.getHeader('x-user-id')
    if (userId.length > 128 || ctx.rate.over(userId)) {
      countAnswer(userId.length > 128 ? 'bad_request' : 'rate_limited', false)
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
    const idemKey = req.getHeader('idempotency-key')
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
    const tres = track(res)
    readJson(tres, req, (body) => {
      if (found instanceof SaleDesk) return order(ctx, tres, found, body, idemKey)
      found.then(
        (desk) => {
          if (desk === null) return laterError(tres, 'not_found', `no sale ${saleId}`)
          order(ctx, tres, desk, body, idemKey)
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
  idemKey: string,
): void {
  if (idemKey.length > 128) {
    return laterError(res, 'bad_request', 'Idempotency-Key must be 1-128 characters')
  }
  const parsed = newOrderBody.safeParse(body)
  if (!parsed.success) return laterError(res, 'bad_request', describeIssues(parsed.error))
  const { userId, quantity } = parsed.data
  const limit = desk.record.perUserLimit
  if (quantity > limit) {
    return laterError(res, 'bad_request', `quantity must be at most perUserLimit (${limit})`)
  }
  const refusal = desk.refusal(ctx.now())
  if (refusal !== null) return laterError(res, refusal)
  if (ctx.rate.over(userId)) return laterError(res, 'rate_limited')
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
  reply: ReserveReply | null,
  saleId: string,
  byRedis: boolean,
): void {
  countAnswer(outcome, byRedis)
  const res = a.res as TrackedResponse
  if (res.aborted) return
  res.aborted = true
  res.cork(() => {
    if (a.compat) return writeCompat(res, outcome, reply)
    if (reply === null || (outcome !== 'reserved' && outcome !== 'replayed')) {
      return writeError(
        res,
        outcome === 'reserved' || outcome === 'replayed' ? 'internal' : outcome,
      )
    }
    const [, , orderId, quantity, , expiresAt] = reply
    const body = JSON.stringify({
      orderId,
      saleId,
      userId: a.userId,
      quantity,
      status: 'reserved',
      expiresAt: new Date(expiresAt!).toISOString(),
    })
    res
      .writeStatus(outcome === 'reserved' ? '201 Created' : '200 OK')
      .writeHeader('Content-Type', JSON_TYPE)
      .end(body)
  })
}

function writeCompat(res: HttpResponse, outcome: Outcome, reply: ReserveReply | null): void {
  if ((outcome === 'reserved' || outcome === 'replayed') && reply !== null) {
    res
      .writeHeader('Content-Type', JSON_TYPE)
      .end(`{"code":1,"msg":"抢票成功","data":{"orderId":${JSON.stringify(reply[2])}}}`)
    return
  }
  writeCompatRefused(res)
}
