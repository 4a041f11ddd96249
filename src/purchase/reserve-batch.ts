import { callReserve, type ReserveResult } from '../store/lua/reserve'
import type { ScriptArg } from '../store/lua/script-call'
import { mayHaveRun } from '../store/redis-failure'
import type { ScriptedRedis } from '../store/scripts'

/**
 * One batched call of reserve-6.lua. Runs on a Piscina thread (reserve-task.ts) or, for the
 * comparison the README reports, on the worker's own thread (RESERVE_MODE=inline).
 *
 * The outcome is a plain value, not a thrown Error: it crosses a thread boundary, where an
 * Error loses every property but its message. The results are decoded here (by the gateway of
 * reserve-6.lua), so what crosses is plain objects of strings and numbers.
 */
export interface ReserveBatch {
  readonly saleId: string
  /** the ARGV of reserve-6.lua, from `encodeAttempts` */
  readonly argv: ScriptArg[]
}

export type ReserveOutcome =
  | { readonly ok: true; readonly results: ReserveResult[] }
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
  try {
    return { ok: true, results: await callReserve(redis, prefix, batch.saleId, batch.argv) }
  } catch (err) {
    return failureOf(err)
  }
}
