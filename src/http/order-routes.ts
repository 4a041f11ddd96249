import type { Config } from '../config'
import { saleIdOfOrder, saleKeys } from '../store/keys'
import type { ScriptedRedis } from '../store/scripts'
import type { HttpRequest, HttpResponse } from '../uws'
import { later, laterError, track, writeError, writeJson } from './respond'
import { SALE_ID } from './validate'

/**
 * GET /api/v1/orders/:orderId. Orders live in Redis for now (the order writer to PostgreSQL
 * comes next); the id names its sale, so one HGET finds it.
 */
export function getOrderRoute(config: Config, redis: ScriptedRedis) {
  return (res: HttpResponse, req: HttpRequest): void => {
    const orderId = req.getParameter(0)
    const saleId = saleIdOfOrder(orderId)
    if (saleId === null || !SALE_ID.test(saleId) || orderId.length > 200) {
      return writeError(res, 'not_found', `no order ${orderId}`)
    }
    const tres = track(res)
    redis
      .hget(saleKeys(config.REDIS_PREFIX, saleId).orders, orderId)
      .then((json) => {
        if (json === null) return laterError(tres, 'not_found', `no order ${orderId}`)
        const o = JSON.parse(json) as {
          userId: string
          quantity: number
          createdAt: number
          expiresAt: number
        }
        const body = JSON.stringify({
          orderId,
          saleId,
          userId: o.userId,
          quantity: o.quantity,
          status: 'reserved',
          createdAt: new Date(o.createdAt).toISOString(),
          expiresAt: new Date(o.expiresAt).toISOString(),
          paidAt: null,
        })
        later(tres, (r) => writeJson(r, '200 OK', body))
      })
      .catch((err: Error) =>
        laterError(tres, 'unavailable', `reading the order failed: ${err.message}`),
      )
  }
}
