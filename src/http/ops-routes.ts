import type { Pool } from 'pg'
import { log } from '../log'
import { describeDurability, readDurability } from '../store/durability'
import type { ScriptedRedis } from '../store/scripts'
import type { HttpRequest, HttpResponse } from '../uws'
import { later, track, writeJson } from './respond'

/** Health (the process serves) and readiness (its stores answer), for LVS/keepalived/nginx. */
export function healthz(res: HttpResponse, _req: HttpRequest): void {
  res.writeHeader('Content-Type', 'text/plain; charset=utf-8').end('ok')
}

const READY_TIMEOUT_MS = 1000
const NO_ANSWER = `no answer in ${READY_TIMEOUT_MS} ms`

function withTimeout<T>(p: Promise<T>): Promise<T> {
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(NO_ANSWER)), READY_TIMEOUT_MS).unref(),
  )
  return Promise.race([p, timeout])
}

/** Stores /readyz found down, so an outage is logged once, not on every probe (one a second). */
const down = new Set<string>()

/**
 * 'ok', or a plain word on what is wrong. Never the driver's message: it names internal hosts and
 * ports (`connect ECONNREFUSED 10.0.0.7:6379`) and goes to the log instead.
 */
function check(store: string, p: Promise<unknown>): Promise<string> {
  return withTimeout(p).then(
    () => {
      down.delete(store)
      return 'ok'
    },
    (err: Error) => {
      if (!down.has(store)) {
        down.add(store)
        log.warn({ err }, `/readyz: ${store} does not answer`)
      }
      return err.message === NO_ANSWER ? NO_ANSWER : 'unreachable'
    },
  )
}

/**
 * What a Redis restart would lose, read live (an operator may change appendonly at run time);
 * '' when Redis does not say (CONFIG disabled, or down: the check above reports that).
 */
function durability(redis: ScriptedRedis): Promise<string> {
  return withTimeout(readDurability(redis)).then(describeDurability, () => '')
}

/**
 * 200 when the stock store (Redis) and the order store (PostgreSQL) both answer, else 503. Both
 * answers also say how durable Redis is: ready does not mean a Redis restart loses nothing.
 */
export function readyzRoute(redis: ScriptedRedis, pg: Pool) {
  return (res: HttpResponse, _req: HttpRequest): void => {
    const tres = track(res)
    const stores = [
      check('redis', redis.ping()),
      check('postgres', pg.query('SELECT 1')),
      durability(redis),
    ]
    Promise.all(stores).then(([r, p, d]) => {
      const ok = r === 'ok' && p === 'ok'
      const body = ok
        ? JSON.stringify({ redis: 'ok', postgres: 'ok', durability: d })
        : JSON.stringify({
            error: 'unavailable',
            detail: `redis: ${r}; postgres: ${p}`,
            durability: d,
          })
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
