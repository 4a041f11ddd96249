import type { Worker } from 'node:cluster'
import type { SaleRecord } from './sale/sale-record'

/**
 * The protocol between the primary (cluster/) and its uWS workers, over the cluster IPC channel:
 * the messages (plain JSON values, `t` names one), the channel they travel on, and the one
 * request/response helper both sides use for the messages that wait for an answer.
 */

/** What a rate limit counts: a buyer (RATE_LIMIT_PER_USER) or a client address (_PER_IP). */
export type RateKind = 'user' | 'ip'

/** The answer to a request that carried `ask` (either direction). */
export interface Answer {
  readonly t: 'answer'
  readonly ask: number
  readonly value?: unknown
}

/** primary -> worker */
export type ToWorker =
  /**
   * a fresh copy of a sale; `clockOffsetMs` = Redis TIME - this host's clock; with `ask`, the
   * worker answers once it has applied it
   */
  | { t: 'sale'; sale: SaleRecord; clockOffsetMs: number; ask?: number }
  /** quota for a sale, possibly 0 units; soldOut when Redis has nothing left */
  | { t: 'grant'; saleId: string; units: number; soldOut: boolean; returned: number }
  /** give back up to `units` unused quota: another worker's buyers are waiting */
  | { t: 'release'; saleId: string; units: number }
  /** these keys are over their rate node-wide: refuse them until wall-clock second `window` ends */
  | { t: 'rate-over'; kind: RateKind; window: number; keys: string[] }
  /** answer with this worker's view of the sale (src/control/protocol.ts `SaleView`, or null when it has no copy) */
  | { t: 'view'; ask: number; saleId: string }
  /** the dashboard's snapshot of the node (cluster/dashboard-feed.ts), to relay to its listeners */
  | { t: 'dashboard'; json: string }
  | Answer

/** What a worker reports about itself every second (cumulative counters; the primary diffs). */
export interface WorkerStats {
  readonly rssBytes: number
  /** user + system CPU time of the process, in microseconds */
  readonly cpuMicros: number
  /** HTTP requests received */
  readonly requests: number
  /**
   * Over all its sales: stock quota held unused, units sent to Redis and not yet answered,
   * attempts waiting for quota. Totals, not one row per sale: a worker with 1,000 sales would
   * send 1,000 rows a second.
   */
  readonly quota: number
  readonly inflight: number
  readonly parked: number
}

/** worker -> primary */
export type ToPrimary =
  | { t: 'ready' }
  | ({ t: 'stats' } & WorkerStats)
  | { t: 'need'; saleId: string; have: number; inflight: number; parked: number }
  | { t: 'released'; saleId: string; units: number; have: number; inflight: number }
  | { t: 'sold-out'; saleId: string }
  /**
   * an admin route changed a sale: re-read it and send it to every worker, then answer (no value)
   */
  | { t: 'changed'; ask: number; saleId: string }
  /** GET /metrics: answered with the node's aggregated metrics, Prometheus text format */
  | { t: 'metrics'; ask: number }
  /** this worker now has (on) or no longer has (off) a dashboard listener */
  | { t: 'watch'; on: boolean }
  /** requests per key since the last tick (keys[i] sent counts[i]), in wall-clock second `window` */
  | { t: 'rate'; kind: RateKind; window: number; keys: string[]; counts: number[] }
  | Answer

/** One side's end of the channel: what it sends, and where what it receives goes. */
export interface Channel<Out, In> {
  send(msg: Out): void
  listen(onMessage: (msg: In) => void): void
}

/** A forked worker's end: the process's own IPC channel to the primary. */
export function processChannel(): Channel<ToPrimary, ToWorker> {
  return {
    send: (msg) => {
      process.send?.(msg)
    },
    listen: (onMessage) => {
      process.on('message', onMessage as (msg: unknown) => void)
    },
  }
}

/** The primary's end to one worker (a message to a worker already gone is dropped). */
export function workerChannel(worker: Worker): Channel<ToWorker, ToPrimary> {
  return {
    send: (msg) => {
      if (worker.isConnected()) worker.send(msg)
    },
    listen: (onMessage) => {
      worker.on('message', onMessage as (msg: unknown) => void)
    },
  }
}

/**
 * Requests that wait for an `Answer`, by number. A request that is not answered within its
 * timeout resolves to its fallback, so no caller waits on a peer that died or lost the message.
 */
export class Requests {
  private next = 1
  private readonly waiting = new Map<number, (value: unknown) => void>()

  /** `send` sends the request carrying `ask`; resolves with the answer's value or `fallback`. */
  ask<T>(send: (ask: number) => void, timeoutMs: number, fallback: T): Promise<T> {
    const ask = this.next++
    return new Promise<T>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(ask)
        resolve(fallback)
      }, timeoutMs)
      this.waiting.set(ask, (value) => {
        clearTimeout(timer)
        resolve(value as T)
      })
      send(ask)
    })
  }

  /** An answer arrived; one whose request already timed out is dropped. */
  settle(answer: Answer): void {
    const done = this.waiting.get(answer.ask)
    if (done === undefined) return
    this.waiting.delete(answer.ask)
    done(answer.value)
  }
}
