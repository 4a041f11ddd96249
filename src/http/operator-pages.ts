import type { HttpRequest, HttpResponse } from '../uws'
import { type Asset, pageFile, writeAsset } from './static-asset'

/**
 * The operator's pages: GET /admin (the console) and GET /dashboard (live metrics), with their
 * script and style, from pages/ in memory (static-asset.ts). They hold no data and no token:
 * what they show comes from admin routes the page calls with the token the operator typed.
 * `no-cache` (store, but revalidate every time: a 304 costs nothing) so a deploy's new page is
 * seen at once; these pages are not under a refresh storm.
 */
const REVALIDATE = 'no-cache'

function route(a: Asset) {
  return (res: HttpResponse, req: HttpRequest): void => writeAsset(res, req, a)
}

export function operatorPages() {
  return {
    admin: route(pageFile('admin.html', REVALIDATE)),
    adminJs: route(pageFile('admin.js', REVALIDATE)),
    dashboard: route(pageFile('dashboard.html', REVALIDATE)),
    dashboardJs: route(pageFile('dashboard.js', REVALIDATE)),
    css: route(pageFile('common.css', REVALIDATE)),
  }
}
