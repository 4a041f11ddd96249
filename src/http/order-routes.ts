import type { Pool } from 'pg'
import type { Config } from '../config'
import { orderView } from '../orders/order-record'
import { lookupOrder, settleOrder } from '../orders/order-store'
import { saleIdOfOrder } from '../store/keys'
import type { ScriptedRedis } from '../store/scripts'
import type { HttpRequest, HttpResponse } from '../uws'
import { later, laterError, track, writeError, writeJson } from './respond'
import { SALE_ID } from './validate'

/**
 * Orders: GET /api/v1/orders/:id, POST …/pay, POST …/cancel (API.md "Orders"). The id names its
 * sale (`<saleId>.<random>`), so one lookup finds its keys.
 */
export interface OrderContext {
  readonly config: Config
  readonly redis: ScriptedRedis
  readonly pg: Pool
  /** tell the primary a sale changed (units came back): its workers sell them again */
  changed(saleId: string): Promise<void>
}

/** The sale id of a well-formed order id, or null (answered 404 with no lookup). */
function saleOf(orderId: string): string | null {
  const saleId = saleIdOfOrder(orderId)
  return saleId !== null && SALE_ID.test(saleId) && orderId.length <= 200 ? saleId : null
}

export function orderRoutes(ctx: OrderContext) {
  const prefix = ctx.config.REDIS_PREFIX

  function get(res: HttpResponse, req: HttpRequest): void {
    const orderId = req.getParameter(0)
    const saleId = saleOf(orderId)
    if (saleId === null) return writeError(res, 'not_found', `no order ${orderId}`)
    const tres = track(res)
    lookupOrder(ctx.pg, ctx.redis, prefix, saleId, orderId)
      .then((o) => {
        if (!o) return laterError(tres, 'not_found', `no order ${orderId}`)
        const body = JSON.stringify(orderView(o))
        later(tres, (r) => writeJson(r, '200 OK', body))
      })
      .catch((err: Error) =>
        laterError(tres, 'unavailable', `the order stores cannot be reached: ${err.message}`),
      )
  }

  function settle(action: 'pay' | 'cancel') {
    return (res: HttpResponse, req: HttpRequest): void => {
      const orderId = req.getParameter(0)
      const saleId = saleOf(orderId)
      if (saleId === null) return writeError(res, 'not_found', `no order ${orderId}`)
      const tres = track(res)
      settleOrder(ctx.redis, ctx.pg, prefix, saleId, orderId, action)
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
        .catch((err: Error) =>
          laterError(tres, 'unavailable', `the stock store cannot be reached: ${err.message}`),
        )
    }
  }

  return { get, pay: settle('pay'), cancel: settle('cancel') }
}
