import type Redis from 'ioredis'
import { type SaleKeys, saleKeys } from '../keys'
import { callScript, nameOf } from './script-call'

/** The gateway of native-lua/pruneOrders-3.lua: forget final orders PostgreSQL holds. */
const SCRIPT = 'pruneOrders-3.lua'

/** Its refusals; a reply with no negative code is the counts of the call. */
export const PRUNE_ORDERS_CODES = { [-6]: 'bad_request' } as const

export interface PruneOrdersResult {
  readonly forgotten: number
  /** final long enough and not forgotten by this call: call again */
  readonly stillDue: number
}

/** KEYS of pruneOrders-3.lua, in its header's order. */
export function pruneOrdersKeys(k: SaleKeys): string[] {
  return [k.final, k.orders, k.idem]
}

/** Forget at most `most` (1..1000) orders final for `retentionMs`; a refusal throws (a fault). */
export async function callPruneOrders(
  redis: Redis,
  prefix: string,
  saleId: string,
  retentionMs: number,
  most: number,
): Promise<PruneOrdersResult> {
  const keys = pruneOrdersKeys(saleKeys(prefix, saleId))
  const reply = (await callScript(redis, 'pruneOrders', keys, [retentionMs, most])) as number[]
  const [forgotten = 0, stillDue = 0] = reply
  if (forgotten < 0)
    throw new Error(`${SCRIPT} answered ${nameOf(SCRIPT, PRUNE_ORDERS_CODES, forgotten)}`)
  return { forgotten, stillDue }
}
