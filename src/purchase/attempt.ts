import type { ErrorCode } from '../errors'
import type { ReservedOrder } from '../store/lua/reserve'

/**
 * One purchase attempt on its way from the HTTP handler to reserve-6.lua and back. Every attempt
 * has the same shape (hidden class) from birth; the HTTP layer owns `res`.
 */
export interface Attempt {
  /** the uWS response, or null once aborted by the client */
  res: unknown
  /** answer in the /buy/ticket shape of the Go reference */
  readonly compat: boolean
  readonly saleId: string
  readonly userId: string
  readonly quantity: number
  readonly idemKey: string
  readonly orderId: string
  /** ms timestamp when it was parked waiting for quota, 0 when not parked */
  parkedAt: number
}

export type Outcome = 'reserved' | 'replayed' | ErrorCode

/** How an attempt's answer goes out; the HTTP layer provides it. */
export type Settle = (
  a: Attempt,
  outcome: Outcome,
  /** the order reserve-6.lua made or found again; null for every other outcome */
  order: ReservedOrder | null,
  saleId: string,
  /** reserve-6.lua decided it (false: the worker's own memory did) */
  byRedis: boolean,
) => void
