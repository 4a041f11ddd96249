import { saleKeys } from '../store/keys'
import { mayHaveRun } from '../store/redis-failure'
import type { ReserveReply, ScriptedRedis } from '../store/scripts'

/**
 * One batched call of reserve-6.lua. Runs on a Piscina thread (reserve-task.ts) or, for the
 * comparison the README reports, on the worker's own thread (RESERVE_MODE=inline).
 *
 * The outcome is a plain value, not a thrown Error: it crosses a thread boundary, where an
 * Error loses every property but its message.
 */
export interface ReserveBatch {
  readonly saleId: string
  /** [n, orderId, userId, quantity, idempotencyKey, ...]: the ARGV of reserve-6.lua */
  readonly argv: (string | number)[]
}

export type ReserveOutcome =
  | { readonly ok: true; readonly replies: ReserveReply[] }
  | {
      readonly ok: false
      /** unavailable: never reached Redis; outcome_unknown: it may have run there */
      readonly code: 'unavailable' | 'outcome_unknown'
      readonly detail: string
    }

export function failureOf(err: unknown): ReserveOutcome & { ok: false } {
  const message = (err as Error)?.message ?? String(err)
  return { ok: false, code: mayHaveRun(err) ? 'outcome_unknown' : 'unavailable', detail: message }
}

export async function reserveBatch(
  redis: ScriptedRedis,
  prefix: string,
  batch: ReserveBatch,
): Promise<ReserveOutcome> {
  const k = saleKeys(prefix, batch.saleId)
  try {
    const replies = await redis.reserve(
      k.sale,
      k.users,
      k.idem,
      k.orders,
      k.stream,
      k.expiry,
      ...batch.argv,
    )
    return { ok: true, replies }
  } catch (err) {
    return failureOf(err)
  }
}
