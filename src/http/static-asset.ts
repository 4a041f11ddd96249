import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, extname, join } from 'node:path'
import type { HttpRequest, HttpResponse } from '../uws'

/**
 * The pages' files (pages/ at the top of the checkout: HTML, JS, CSS), read once when a worker
 * starts and answered from memory with a strong ETag: a browser or a CDN revalidates with
 * If-None-Match and gets a 304 with no body. Nothing here reads Redis or a sale.
 */
export interface Asset {
  readonly body: Buffer
  /** strong: the first 128 bits of the body's SHA-256, quoted */
  readonly etag: string
  readonly type: string
  readonly cacheControl: string
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
}

/** The pages/ folder of the checkout (beside package.json), from src/http/ or dist/src/http/. */
export const PAGES_DIR = join(checkoutRoot(__dirname), 'pages')

/** The checkout (or installed package): the nearest folder above `from` holding package.json. */
export function checkoutRoot(from: string): string {
  let dir = from
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir)
    if (up === dir) throw new Error(`no package.json above ${from}`)
    dir = up
  }
  return dir
}

/** An asset of `body`, typed by `name`'s extension. */
export function asset(name: string, body: string | Buffer, cacheControl: string): Asset {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body
  const hash = createHash('sha256').update(bytes).digest('base64url').slice(0, 22)
  const type = TYPES[extname(name)] ?? 'application/octet-stream'
  return { body: bytes, etag: `"${hash}"`, type, cacheControl }
}

/** pages/`name` as an asset (read now, synchronously: at a worker's start). */
export function pageFile(name: string, cacheControl: string): Asset {
  return asset(name, readFileSync(join(PAGES_DIR, name)), cacheControl)
}

/** Whether If-None-Match (a list of ETags, weak ones too, or `*`) names this asset. */
export function notModified(ifNoneMatch: string, etag: string): boolean {
  if (ifNoneMatch === '') return false
  if (ifNoneMatch.trim() === '*') return true
  // RFC 9110 13.1.2: If-None-Match compares weakly, so W/"x" matches "x".
  for (const tag of ifNoneMatch.split(',')) {
    const t = tag.trim()
    if (t === etag || t === `W/${etag}`) return true
  }
  return false
}

/**
 * Answer GET/HEAD of an asset: 304 when the client holds it, else 200 with the body. Read the
 * request header before calling: uWS requests are valid only until the handler returns.
 */
export function writeAsset(res: HttpResponse, req: HttpRequest, a: Asset): void {
  writeAssetFor(res, req.getHeader('if-none-match'), a)
}

/** writeAsset with the request's If-None-Match read earlier (an answer after async work). */
export function writeAssetFor(res: HttpResponse, ifNoneMatch: string, a: Asset): void {
  if (notModified(ifNoneMatch, a.etag)) {
    res
      .writeStatus('304 Not Modified')
      .writeHeader('ETag', a.etag)
      .writeHeader('Cache-Control', a.cacheControl)
      .endWithoutBody()
    return
  }
  res
    .writeStatus('200 OK')
    .writeHeader('Content-Type', a.type)
    .writeHeader('ETag', a.etag)
    .writeHeader('Cache-Control', a.cacheControl)
    .end(a.body)
}
