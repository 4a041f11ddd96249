import type { ScriptedRedis } from '../store/scripts'
import type { HttpRequest, HttpResponse } from '../uws'
import { later, track, writeJson } from './respond'

/** Health (the process serves) and readiness (its stores answer), for LVS/keepalived/nginx. */
export function healthz(res: HttpResponse, _req: HttpRequest): void {
  res.writeHeader('Content-Type', 'text/plain; charset=utf-8').end('ok')
}

const READY_TIMEOUT_MS = 1000

export function readyzRoute(redis: ScriptedRedis) {
  return (res: HttpResponse, _req: HttpRequest): void => {
    const tres = track(res)
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`no answer in ${READY_TIMEOUT_MS} ms`)),
        READY_TIMEOUT_MS,
      ).unref(),
    )
    Promise.race([redis.ping(), timeout]).then(
      () => later(tres, (r) => writeJson(r, '200 OK', '{"redis":"ok"}')),
      (err: Error) =>
        later(tres, (r) =>
          writeJson(
            r,
            '503 Service Unavailable',
            JSON.stringify({ error: 'unavailable', detail: `redis: ${err.message}` }),
          ),
        ),
    )
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
