import { type TemplatedApp, uws } from '../uws'
import { healthz, metricsRoute, readyzRoute } from './ops-routes'
import { type OrderContext, orderRoutes } from './order-routes'
import { buyTicketRoute, type PurchaseContext, postOrderRoute } from './purchase-routes'
import { writeError } from './respond'
import { type SaleContext, saleRoutes } from './sale-routes'

/** The routes of API.md on one uWS app. */
export type AppContext = PurchaseContext &
  SaleContext &
  OrderContext & {
    /** the node's metrics, aggregated over its workers by the primary */
    metrics(): Promise<string>
  }

export function buildApp(ctx: AppContext): TemplatedApp {
  const sales = saleRoutes(ctx)
  const buy = buyTicketRoute(ctx)
  const orders = orderRoutes(ctx)
  return uws
    .App()
    .get('/buy/ticket', buy)
    .post('/buy/ticket', buy)
    .post('/api/v1/sales', sales.create)
    .get('/api/v1/sales/:id', sales.get)
    .post('/api/v1/sales/:id/start', sales.start)
    .post('/api/v1/sales/:id/close', sales.close)
    .post('/api/v1/sales/:id/orders', postOrderRoute(ctx))
    .get('/api/v1/orders/:id', orders.get)
    .post('/api/v1/orders/:id/pay', orders.pay)
    .post('/api/v1/orders/:id/cancel', orders.cancel)
    .get('/healthz', healthz)
    .get('/readyz', readyzRoute(ctx.redis, ctx.pg))
    .get('/metrics', metricsRoute(ctx.metrics))
    .any('/*', (res) => writeError(res, 'not_found', 'no such route'))
}
