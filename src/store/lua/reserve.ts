import type { RedisClient } from '../redis-client'
import { nameOf, type OutcomeOf, runOnSale, type ScriptArg, saleScript } from './script-call'

/** The gateway of native-lua/reserve-6.lua: a batch of purchase attempts of one sale. */
export const RESERVE = saleScript(
  'reserve-6.lua',
  {
    0: 'reserved',
    1: 'replayed',
    [-1]: 'sold_out',
    [-2]: 'limit_exceeded',
    [-3]: 'not_started',
    [-4]: 'closed',
    [-5]: 'not_found',
    [-6]: 'bad_request',
  } as const,
  (k) => [k.sale, k.users, k.idem, k.orders, k.stream, k.expiry],
  { rings: true },
)

export type ReserveOutcomeName = OutcomeOf<typeof RESERVE>

/** The order an attempt made (reserved) or found again (replayed). Times in epoch ms. */
export interface ReservedOrder {
  readonly orderId: string
  readonly quantity: number
  readonly createdAt: number
  readonly expiresAt: number
}

/**
 * One attempt's answer. A plain object of strings and numbers: it crosses from a Piscina thread
 * to the worker by structured clone.
 */
export interface ReserveResult {
  readonly outcome: ReserveOutcomeName
  /** units left on sale after this attempt */
  readonly remaining: number
  /** null unless reserved or replayed */
  readonly order: ReservedOrder | null
}

/** What the script needs of an attempt. */
export interface ReserveAttempt {
  readonly orderId: string
  readonly userId: string
  readonly quantity: number
  /** '' for none */
  readonly idemKey: string
}

/** The ARGV of a batch: [n, orderId, userId, quantity, idempotencyKey, ...]. */
export function encodeAttempts(list: readonly ReserveAttempt[]): ScriptArg[] {
  const argv: ScriptArg[] = [list.length]
  for (const a of list) argv.push(a.orderId, a.userId, a.quantity, a.idemKey)
  return argv
}

/** One attempt's reply as it comes off the wire: {code, remaining, orderId?, quantity?,
 * createdAt?, expiresAt?} (the last four only when code >= 0). */
export type RawReserveReply = [number, number, string?, number?, number?, number?]

/** One answer per attempt of `argv` (encodeAttempts), in its order. */
export async function callReserve(
  redis: RedisClient,
  prefix: string,
  saleId: string,
  argv: readonly ScriptArg[],
): Promise<ReserveResult[]> {
  const raw = (await runOnSale(redis, RESERVE, prefix, saleId, argv)) as RawReserveReply[]
  const results: ReserveResult[] = new Array(raw.length)
  for (let i = 0; i < raw.length; i++) results[i] = decodeReserveReply(raw[i]!)
  return results
}

/** One attempt's reply, named; an unknown code throws. */
export function decodeReserveReply(r: RawReserveReply): ReserveResult {
  const code = r[0]
  const outcome = nameOf(RESERVE, code)
  const order =
    code >= 0 ? { orderId: r[2]!, quantity: r[3]!, createdAt: r[4]!, expiresAt: r[5]! } : null
  return { outcome, remaining: r[1], order }
}
