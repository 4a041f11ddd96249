import type { Pool } from 'pg'
import type { BuyerTokens } from '../buyer-token'
import type { Config } from '../config'
import { log } from '../log'
import { orderView } from '../orders/order-record'
import { lookupOrder, settleOrder } from '../orders/order-store'
import { saleIdOfOrder } from '../store/keys'
import { mayHaveRun } from '../store/redis-failure'
import type { ScriptedRedis } from '../store/scripts'
import type { HttpRequest, HttpResponse } from '../uws'
import { type Caller, callerOf, mayTouch, writeUnauthorized } from './buyer-auth'
import type { TrackedResponse } from './respond'
import {
  later,
  laterError,
  laterUnknown,
  track,
  whenStillWaiting,
  writeError,
  writeJson,
} from './respond'
import { SALE_ID } from './validate'

/**
 * Orders: GET /api/v1/orders/:id, POST …/pay, POST …/cancel (API.md "Orders"). The id names its
 * sale (`<saleId>.<random>`), so one lookup finds its keys.
 */
export interface OrderContext {
  readonly config: Config
  readonly redis: ScriptedRedis
  readonly pg: Pool
  /** signed identity: only the owner or the admin may touch an order; null: anyone may */
  readonly buyers: BuyerTokens | null
  /** tell the primary a sale changed (units came back): its workers sell them again */
  changed(saleId: string): Promise<void>
}

/** The sale id of a well-formed order id, or null (answered 404 with no lookup). */
function saleOf(orderId: string): string | null {
  const saleId = saleIdOfOrder(orderId)
  return saleId !== null && SALE_ID.test(saleId) && orderId.length <= 200 ? saleId : null
}

/** Another buyer's order, answered exactly like an unknown one. */
const NOT_YOURS = { code: 'not_found' } as const

/** 503: the driver's message (it names internal hosts and ports) goes to the log, not the answer. */
function unreachable(res: TrackedResponse, stores: string, err: Error): void {
  log.error({ err }, `${stores} cannot be reached`)
  laterError(res, 'unavailable', `${stores} cannot be reached`)
}

export function orderRoutes(ctx: OrderContext) {
  const prefix = ctx.config.REDIS_PREFIX
  const adminToken = Buffer.from(ctx.config.SECKILL_ADMIN_TOKEN)
  /** Signed identity: who asks (read before any await); null when identity is asserted. */
  const callerOfReq = (req: HttpRequest): Caller | null =>
    ctx.buyers === null ? null : callerOf(req, ctx.buyers, adminToken)

  /**
   * A buyer may pay or cancel only an order of theirs: looked up before the change (an order's
   * owner never changes, so the check cannot go stale). Someone else's order is "not found", as
   * is one that does not exist: a 403 would tell that it exists.
   */
  const owned = async (caller: Caller | null, saleId: string, orderId: string) => {
    if (caller === null || caller.kind === 'admin') return true
    const o = await lookupOrder(ctx.pg, ctx.redis, prefix, saleId, orderId)
    return o !== null && mayTouch(caller, o.userId)
  }

  /** The order a request names and who asks, or null once the refusal has been written. */
  function target(res: HttpResponse, req: HttpRequest) {
    const orderId = req.getParameter(0)
    const caller = callerOfReq(req)
    if (caller?.kind === 'refused') {
      writeUnauthorized(res, caller.refused)
      return null
    }
    const saleId = saleOf(orderId)
    if (saleId === null) {
      writeError(res, 'not_found', `no order ${orderId}`)
      return null
    }
    return { orderId, caller, saleId, res: track(res) }
  }

  function get(res: HttpResponse, req: HttpRequest): void {
    const on = target(res, req)
    if (on === null) return
    const { orderId, caller, saleId, res: tres } = on
    lookupOrder(ctx.pg, ctx.redis, prefix, saleId, orderId)
      .then((o) => {
        if (!o || !mayTouch(caller, o.userId)) {
          return laterError(tres, 'not_found', `no order ${orderId}`)
        }
        const body = JSON.stringify(orderView(o))
        later(tres, (r) => writeJson(r, '200 OK', body))
      })
      .catch((err: Error) => unreachable(tres, 'the order stores', err))
  }

  function settle(action: 'pay' | 'cancel') {
    return (res: HttpResponse, req: HttpRequest): void => {
      const on = target(res, req)
      if (on === null) return
      whenStillWaiting(on.res, () => act(on.res, on.caller, on.saleId, on.orderId, action))
    }
  }

  function act(
    tres: TrackedResponse,
    caller: Caller | null,
    saleId: string,
    orderId: string,
    action: 'pay' | 'cancel',
  ): void {
    owned(caller, saleId, orderId)
      .then((ok) =>
        ok ? settleOrder(ctx.redis, ctx.pg, prefix, saleId, orderId, action) : NOT_YOURS,
      )
      .then(async (out) => {
        if (out.code === 'not_found') return laterError(tres, 'not_found', `no order ${orderId}`)
        if (out.code === 'unknown_to_redis') {
          return laterError(
            tres,
            'unavailable',
            `order ${orderId} is reserved in PostgreSQL but unknown to Redis; ` +
              'run `seckill reconcile --repair`',
          )
        }
        // Units came back on sale (a cancel, or the deadline passed first): sell them again.
        // Answer once every worker of this node has cleared its sold-out flag, so a buy sent
        // right after the answer is not refused sold_out by a worker that has not heard yet.
        if ((out.code === 'done' && action === 'cancel') || out.code === 'expired') {
          await ctx.changed(saleId)
        }
        if (out.code === 'done' || out.code === 'already') {
          const body = JSON.stringify(orderView(out.order))
          return later(tres, (r) => writeJson(r, '200 OK', body))
        }
        laterError(tres, out.code, `order ${orderId} is ${out.order.status}`)
      })
      .catch((err: Error) => {
        if (!mayHaveRun(err)) return unreachable(tres, 'the stock store', err)
        // Sent, no answer: the change may have happened. Pay and cancel are idempotent.
        log.error({ err }, `${action} of an order: no answer from the stock store`)
        laterUnknown(
          tres,
          `the stock store did not answer: the ${action} may or may not have happened; ` +
            `GET /api/v1/orders/${orderId}, or send the ${action} again (it is idempotent)`,
          orderId,
        )
      })
  }

  return { get, pay: settle('pay'), cancel: settle('cancel') }
}
