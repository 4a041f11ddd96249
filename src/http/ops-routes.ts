import type { Pool } from 'pg'
import type { ScriptedRedis } from '../store/scripts'
import type { HttpRequest, HttpResponse } from '../uws'
import { later, track, writeJson } from './respond'

/** Health (the process serves) and readiness (its stores answer), for LVS/keepalived/nginx. */
export function healthz(res: HttpResponse, _req: HttpRequest): void {
  res.writeHeader('Content-Type', 'text/plain; charset=utf-8').end('ok')
}

const READY_TIMEOUT_MS = 1000

function withTimeout<T>(p: Promise<T>): Promise<T> {
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(
      () => reject(new Error(`no answer in ${READY_TIMEOUT_MS} ms`)),
      READY_TIMEOUT_MS,
    ).unref(),
  )
  return Promise.race([p, timeout])
}

function check(p: Promise<unknown>): Promise<string> {
  return withTimeout(p).then(
    () => 'ok',
    (err: Error) => err.message,
  )
}

/** 200 when the stock store (Redis) and the order store (PostgreSQL) both answer, else 503. */
export function readyzRoute(redis: ScriptedRedis, pg: Pool) {
  return (res: HttpResponse, _req: HttpRequest): void => {
    const tres = track(res)
    Promise.all([check(redis.ping()), check(pg.query('SELECT 1'))]).then(([r, p]) => {
      const ok = r === 'ok' && p === 'ok'
      const body = ok
        ? '{"redis":"ok","postgres":"ok"}'
        : JSON.stringify({ error: 'unavailable', detail: `redis: ${r}; postgres: ${p}` })
      later(tres, (w) => writeJson(w, ok ? '200 OK' : '503 Service Unavailable', body))
    })
  }
}

export function metricsRoute(metrics: () => Promise<string>) {
  return (res: HttpResponse, _req: HttpRequest): void => {
    const tres = track(res)
    metrics().then((text) =>
      later(tres, (r) =>
        r.writeHeader('Content-Type', 'text/plain; version=0.0.4; charset=utf-8').end(text),
      ),
    )
  }
}
