import { type HttpRequest, type HttpResponse, type TemplatedApp, uws } from '../uws'
import { asHead, framed, type Handler, headOf } from './framing'
import { operatorPages } from './operator-pages'
import { healthz, metricsRoute, readyzRoute } from './ops-routes'
import { type OrderContext, orderRoutes } from './order-routes'
import { pageRoutes } from './page-routes'
import { buyTicketRoute, type PurchaseContext, postOrderRoute } from './purchase-routes'
import { JSON_TYPE, writeError } from './respond'
import { type SaleContext, saleRoutes } from './sale-routes'

/** The routes of API.md on one uWS app. */
export type AppContext = PurchaseContext &
  SaleContext &
  OrderContext & {
    /** the node's metrics, aggregated over its workers by the primary */
    metrics(): Promise<string>
    /** GET /api/v1/dashboard/events: the live dashboard's push channel (dashboard-stream.ts) */
    dashboard: Handler
  }

/**
 * HEAD /buy/ticket: the headers of the GET, and no purchase. A HEAD answer has no body, so the
 * buyer could never learn the order id of a ticket bought this way.
 */
function headBuyTicket(res: HttpResponse): void {
  res.writeHeader('Content-Type', JSON_TYPE).endWithoutBody()
}

function notFound(res: HttpResponse, req: HttpRequest): void {
  if (req.getMethod() === 'head') asHead(res)
  writeError(res, 'not_found', 'no such route')
}

export function buildApp(ctx: AppContext): TemplatedApp {
  const sales = saleRoutes(ctx)
  const buy = buyTicketRoute(ctx)
  const orders = orderRoutes(ctx)
  const pages = pageRoutes(ctx)
  const app = uws.App()
  // Every route is registered behind the framing check, and every GET route answers HEAD too
  // (uWS routes a HEAD to `any`, not to `get`): API.md "HTTP framing".
  const get = (pattern: string, handler: Handler, head: Handler = headOf(handler)): void => {
    app.get(pattern, framed(handler)).head(pattern, framed(head))
  }
  const post = (pattern: string, handler: Handler): void => {
    app.post(pattern, framed(handler))
  }
  get('/buy/ticket', buy, headBuyTicket)
  post('/buy/ticket', buy)
  post('/api/v1/sales', sales.create)
  get('/api/v1/sales', sales.list)
  get('/api/v1/sales/:id', sales.get)
  get('/api/v1/sales/:id/state', pages.state)
  post('/api/v1/sales/:id/start', sales.start)
  post('/api/v1/sales/:id/close', sales.close)
  post('/api/v1/sales/:id/stock', sales.stock)
  post('/api/v1/sales/:id/orders', postOrderRoute(ctx))
  get('/api/v1/orders/:id', orders.get)
  post('/api/v1/orders/:id/pay', orders.pay)
  post('/api/v1/orders/:id/cancel', orders.cancel)
  get('/sales/:id', pages.page)
  get('/assets/sale.js', pages.script)
  get('/assets/sale.css', pages.style)
  get('/healthz', healthz)
  get('/readyz', readyzRoute(ctx.redis, ctx.pg))
  get('/metrics', metricsRoute(ctx.metrics))
  // A stream has no HEAD form: HEAD gets the 404 of an unknown route rather than an open stream.
  app.get('/api/v1/dashboard/events', framed(ctx.dashboard))
  const ops = operatorPages()
  get('/admin', ops.admin)
  get('/pages/admin.js', ops.adminJs)
  get('/dashboard', ops.dashboard)
  get('/pages/dashboard.js', ops.dashboardJs)
  get('/pages/common.css', ops.css)
  return app.any('/*', framed(notFound))
}
