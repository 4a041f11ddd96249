import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Desks } from '../purchase/desks'
import type { SaleDesk } from '../purchase/sale-desk'
import { saleState } from '../sale/sale-record'
import type { HttpRequest, HttpResponse } from '../uws'
import { later, laterError, track, writeError, writeJson } from './respond'
import { type Asset, asset, PAGES_DIR, pageFile, writeAsset, writeAssetFor } from './static-asset'
import { SALE_ID } from './validate'

/**
 * The sale's product page (API.md "Pages"): `GET /sales/:id`, its script and style under
 * `/assets/`, and the small state JSON the page polls. All of it is answered from the worker's
 * memory: a known sale costs no Redis call, so a refresh storm on the page reaches only this
 * worker's CPU (or a cache in front, which the headers allow).
 */
export interface PageContext {
  readonly desks: Desks
  /** Redis-clock ms (the worker's clock plus its offset) */
  now(): number
}

/**
 * The assets are addressed with `?v=<their ETag>` from the HTML, so a new deploy changes the URL
 * and a year-long, immutable cache can never serve an old script with a new page.
 */
const ASSET_CACHE = 'public, max-age=31536000, immutable'
/**
 * The HTML carries only the sale's name and id; everything that moves during the sale comes from
 * the state JSON. A minute of freshness lets a browser or CDN absorb the refresh storm, and
 * stale-while-revalidate lets it answer at once while it checks the ETag (a 304) in the
 * background. A rename shows within ~60 s, a deploy's new asset URLs within the same minute.
 */
const PAGE_CACHE = 'public, max-age=60, stale-while-revalidate=300'
/** What the page polls every second: a 1 s cache merges a storm's polls without hiding a start. */
const STATE_CACHE = 'public, max-age=1'
/** An unknown sale may be created a moment later: a short cache, so it is not hidden for long. */
const MISSING_CACHE = 'public, max-age=5'

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
}

/** Text for HTML content or a quoted attribute value. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c)
}

/** The body of GET /api/v1/sales/:id/state for a sale at `nowMs` (Redis clock). */
export function stateBody(desk: SaleDesk, nowMs: number): string {
  const r = desk.record
  // The record's sold count lags this worker's own Redis replies; the desk knows a sold-out at once.
  const state = desk.refusal(nowMs) === 'sold_out' ? 'sold_out' : saleState(r, nowMs)
  return JSON.stringify({
    state,
    remaining: state === 'sold_out' ? 0 : Math.max(0, r.stock - r.sold),
    serverTime: nowMs,
    startsAt: r.startsAt === null ? null : new Date(r.startsAt).toISOString(),
    endsAt: r.endsAt === null ? null : new Date(r.endsAt).toISOString(),
  })
}

interface Rendered {
  readonly name: string
  readonly page: Asset
}

export function pageRoutes(ctx: PageContext) {
  // Read once, at the worker's start: a missing file fails the start, not a buyer.
  const js = pageFile('sale.js', ASSET_CACHE)
  const css = pageFile('sale.css', ASSET_CACHE)
  const template = readFileSync(join(PAGES_DIR, 'sale.html'), 'utf8')
    .replaceAll('%js%', `/assets/sale.js?v=${js.etag.slice(1, -1)}`)
    .replaceAll('%css%', `/assets/sale.css?v=${css.etag.slice(1, -1)}`)
  const missing = asset(
    'missing.html',
    template
      .replaceAll('%id%', '')
      .replaceAll('%name%', 'No such sale · 没有这个秒杀')
      .replace('<body>', '<body data-missing="1">'),
    MISSING_CACHE,
  )
  /** The rendered HTML per sale, rendered again only when the sale's name changes. */
  const pages = new Map<string, Rendered>()

  function pageOf(desk: SaleDesk): Asset {
    const { id, name } = desk.record
    const cached = pages.get(id)
    if (cached !== undefined && cached.name === name) return cached.page
    const html = template
      .replaceAll('%id%', escapeHtml(id))
      .replaceAll('%name%', escapeHtml(name === '' ? id : name))
    const page = asset('sale.html', html, PAGE_CACHE)
    pages.set(id, { name, page })
    return page
  }

  function writeMissing(res: HttpResponse): void {
    res
      .writeStatus('404 Not Found')
      .writeHeader('Content-Type', missing.type)
      .writeHeader('Cache-Control', missing.cacheControl)
      .end(missing.body)
  }

  const page = (res: HttpResponse, req: HttpRequest): void => {
    const id = req.getParameter(0)
    if (!SALE_ID.test(id)) return writeMissing(res)
    const desk = ctx.desks.get(id)
    if (desk !== undefined) return writeAsset(res, req, pageOf(desk))
    // Not heard of here: one shared Redis read, and a miss is remembered (Desks).
    const ifNoneMatch = req.getHeader('if-none-match')
    const tres = track(res)
    Promise.resolve(ctx.desks.find(id))
      .then((d) =>
        later(tres, (r) => {
          if (d === null) return writeMissing(r)
          writeAssetFor(r, ifNoneMatch, pageOf(d))
        }),
      )
      .catch(() => laterError(tres, 'unavailable', 'the sale could not be read; retry'))
  }

  const state = (res: HttpResponse, req: HttpRequest): void => {
    const id = req.getParameter(0)
    if (!SALE_ID.test(id)) return writeError(res, 'not_found', `no sale ${id}`)
    const desk = ctx.desks.get(id)
    if (desk !== undefined) return writeJson(res, '200 OK', stateBody(desk, ctx.now()), STATE_CACHE)
    const tres = track(res)
    Promise.resolve(ctx.desks.find(id))
      .then((d) =>
        later(tres, (r) => {
          if (d === null) return writeError(r, 'not_found', `no sale ${id}`)
          writeJson(r, '200 OK', stateBody(d, ctx.now()), STATE_CACHE)
        }),
      )
      .catch(() => laterError(tres, 'unavailable', 'the sale could not be read; retry'))
  }

  const script = (res: HttpResponse, req: HttpRequest): void => writeAsset(res, req, js)
  const style = (res: HttpResponse, req: HttpRequest): void => writeAsset(res, req, css)

  return { page, state, script, style }
}
