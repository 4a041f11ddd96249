import type { SaleRecord } from './sale/sale-record'

/**
 * The messages between the primary (cluster/) and its uWS workers, over the cluster IPC channel.
 * Plain JSON values: `t` names the message.
 */

/** What a rate limit counts: a buyer (RATE_LIMIT_PER_USER) or a client address (_PER_IP). */
export type RateKind = 'user' | 'ip'

/** primary -> worker */
export type ToWorker =
  /**
   * a fresh copy of a sale; `clockOffsetMs` = Redis TIME - this host's clock; with `sync`, the
   * worker answers `synced` once applied
   */
  | { t: 'sale'; sale: SaleRecord; clockOffsetMs: number; sync?: number }
  /** quota for a sale, possibly 0 units; soldOut when Redis has nothing left */
  | { t: 'grant'; saleId: string; units: number; soldOut: boolean; returned: number }
  /** give back up to `units` unused quota: another worker's buyers are waiting */
  | { t: 'release'; saleId: string; units: number }
  /** answer to `changed`: every worker has the new copy of the sale */
  | { t: 'ack'; id: number }
  /** answer to `metrics`: every worker's registry, aggregated, in Prometheus text format */
  | { t: 'metrics'; id: number; text: string }
  /** these keys are over their rate node-wide: refuse them until wall-clock second `window` ends */
  | { t: 'rate-over'; kind: RateKind; window: number; keys: string[] }

/** worker -> primary */
export type ToPrimary =
  | { t: 'ready' }
  /** a `sale` message that carried `sync` has been applied */
  | { t: 'synced'; sync: number }
  | { t: 'need'; saleId: string; have: number; inflight: number; parked: number }
  | { t: 'released'; saleId: string; units: number; have: number; inflight: number }
  | { t: 'sold-out'; saleId: string }
  /** an admin route changed a sale: re-read it and send it to every worker, then ack `id` */
  | { t: 'changed'; id: number; saleId: string }
  /** GET /metrics: ask the primary for the node's aggregated metrics */
  | { t: 'metrics'; id: number }
  /** requests per key since the last tick (keys[i] sent counts[i]), in wall-clock second `window` */
  | { t: 'rate'; kind: RateKind; window: number; keys: string[]; counts: number[] }
