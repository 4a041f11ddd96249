import type { Config } from '../config'
import { log } from '../log'
import type { Desks } from '../purchase/desks'
import { saleView } from '../sale/sale-record'
import { adjustStock, createSale, type StockOutcome, setSaleState } from '../sale/sale-store'
import { mayHaveRun } from '../store/redis-failure'
import type { ScriptedRedis } from '../store/scripts'
import type { HttpRequest, HttpResponse } from '../uws'
import { isAdmin } from './admin-auth'
import {
  later,
  laterError,
  laterUnknown,
  readJson,
  type TrackedResponse,
  track,
  whenStillWaiting,
  writeError,
  writeJson,
} from './respond'
import { describeIssues, newSaleBody, SALE_ID, stockChangeBody } from './validate'

/**
 * Sales: create, read, start, close, change the stock (API.md "Sales"). Admin routes need the
 * bearer token.
 */
export interface SaleContext {
  readonly config: Config
  readonly redis: ScriptedRedis
  readonly desks: Desks
  now(): number
  /** tell the primary a sale changed; resolves when every worker of this node has the new copy */
  changed(saleId: string): Promise<void>
}

/** Sold counts in a copy may be this old before GET reads Redis again (API.md: up to 1 s stale). */
const SALE_MAX_AGE_MS = 1000

export function saleRoutes(ctx: SaleContext) {
  const token = Buffer.from(ctx.config.SECKILL_ADMIN_TOKEN)

  function answerSale(res: TrackedResponse, id: string, status: string): void {
    const desk = ctx.desks.get(id)
    if (!desk) return laterError(res, 'not_found', `no sale ${id}`)
    const body = JSON.stringify(saleView(desk.record, ctx.now()))
    later(res, (r) =>
      writeJson(r, status, body, status === '200 OK' ? 'public, max-age=1' : undefined),
    )
  }

  // The driver's message (it names internal hosts and ports) goes to the log, not the answer.
  function failed(res: TrackedResponse, what: string, err: unknown, id?: string): void {
    log.error({ err }, `${what} failed`)
    if (id !== undefined && mayHaveRun(err)) {
      return laterUnknown(
        res,
        `the stock store did not answer: ${what} may or may not have happened; ` +
          `GET /api/v1/sales/${id} tells`,
      )
    }
    laterError(res, 'unavailable', `${what} failed; the cause is in the server log`)
  }

  const create = (res: HttpResponse, req: HttpRequest): void => {
    if (!isAdmin(req, token)) return writeError(res, 'unauthorized')
    const tres = track(res)
    readJson(tres, req, (body) => {
      const parsed = newSaleBody.safeParse(body)
      if (!parsed.success) return laterError(tres, 'bad_request', describeIssues(parsed.error))
      const s = parsed.data
      whenStillWaiting(tres, () =>
        createSale(ctx.redis, ctx.config.REDIS_PREFIX, s)
          .then(async (outcome) => {
            if (outcome === 'exists') return laterError(tres, 'sale_exists', `sale ${s.id} exists`)
            await ctx.changed(s.id)
            answerSale(tres, s.id, '201 Created')
          })
          .catch((err) => failed(tres, 'creating the sale', err, s.id)),
      )
    })
  }

  const get = (res: HttpResponse, req: HttpRequest): void => {
    const id = req.getParameter(0)
    if (!SALE_ID.test(id)) return writeError(res, 'not_found', `no sale ${id}`)
    const desk = ctx.desks.get(id)
    if (desk && ctx.desks.age(id) <= SALE_MAX_AGE_MS) {
      return writeJson(
        res,
        '200 OK',
        JSON.stringify(saleView(desk.record, ctx.now())),
        'public, max-age=1',
      )
    }
    const tres = track(res)
    ctx.desks
      .refresh(id)
      .then((d) =>
        d ? answerSale(tres, id, '200 OK') : laterError(tres, 'not_found', `no sale ${id}`),
      )
      .catch((err) => failed(tres, 'reading the sale', err))
  }

  const change =
    (action: 'start' | 'close') =>
    (res: HttpResponse, req: HttpRequest): void => {
      if (!isAdmin(req, token)) return writeError(res, 'unauthorized')
      const id = req.getParameter(0)
      const tres = track(res)
      whenStillWaiting(tres, () =>
        setSaleState(ctx.redis, ctx.config.REDIS_PREFIX, id, action)
          .then(async (outcome) => {
            if (outcome === 'not_found') return laterError(tres, 'not_found', `no sale ${id}`)
            if (outcome === 'closed') return laterError(tres, 'closed', `sale ${id} is closed`)
            await ctx.changed(id)
            answerSale(tres, id, '200 OK')
          })
          .catch((err) => failed(tres, `the ${action} of the sale`, err, id)),
      )
    }

  // The stock of a live sale, raised or lowered. Like start and close, the answer waits until
  // every worker of this node holds the new copy (a top-up then sells at once here); the other
  // nodes follow the sale's bell, which the script rings.
  const stock = (res: HttpResponse, req: HttpRequest): void => {
    if (!isAdmin(req, token)) return writeError(res, 'unauthorized')
    const id = req.getParameter(0)
    if (!SALE_ID.test(id)) return writeError(res, 'not_found', `no sale ${id}`)
    const tres = track(res)
    readJson(tres, req, (body) => {
      const parsed = stockChangeBody.safeParse(body)
      if (!parsed.success) return laterError(tres, 'bad_request', describeIssues(parsed.error))
      const change = parsed.data
      whenStillWaiting(tres, () =>
        adjustStock(ctx.redis, ctx.config.REDIS_PREFIX, id, change)
          .then(async (r) => {
            if (r.outcome !== 'adjusted') return refuseStock(tres, id, r)
            await ctx.changed(id)
            answerSale(tres, id, '200 OK')
          })
          .catch((err) => failed(tres, 'the stock change', err, id)),
      )
    })
  }

  // Every sale from this worker's copies (each at most SALE_POLL_MS behind Redis after a bell,
  // and a fresh copy reaches every worker before an admin change answers): no Redis call, so an
  // open console costs the stock store nothing. Sorted by id so the console's table is stable.
  const list = (res: HttpResponse, req: HttpRequest): void => {
    if (!isAdmin(req, token)) return writeError(res, 'unauthorized')
    const now = ctx.now()
    const sales = Array.from(ctx.desks.all(), (d) => saleView(d.record, now))
    sales.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    writeJson(res, '200 OK', JSON.stringify({ sales }), 'no-store')
  }

  return { create, get, list, start: change('start'), close: change('close'), stock }
}

/** The answer to a change of stock adjustStock-1.lua refused; nothing changed. */
function refuseStock(
  res: TrackedResponse,
  id: string,
  r: Exclude<StockOutcome, { outcome: 'adjusted' }>,
): void {
  switch (r.outcome) {
    case 'too_few_unsold':
      return laterError(
        res,
        'stock_conflict',
        `sale ${id} has ${r.removable} units neither sold nor in flight: ` +
          `at most ${r.removable} can be removed`,
      )
    case 'over_max':
      return laterError(
        res,
        'stock_conflict',
        `a sale holds at most 1000000000 units: at most ${r.addable} more can be added to ${id}`,
      )
    case 'closed':
      return laterError(res, 'closed', `sale ${id} is closed: its stock no longer changes`)
    case 'restoring':
      // Like every route, the API takes a sale whose restore is unfinished for none.
      return laterError(
        res,
        'not_found',
        `no sale ${id}: it is being restored (seckill restore has not finished)`,
      )
    case 'not_found':
      return laterError(res, 'not_found', `no sale ${id}`)
  }
}
