import type Redis from 'ioredis'
import { type SaleKeys, saleKeys } from '../keys'
import { callScript, nameOf } from './script-call'

/** The gateway of native-lua/settleOrder-5.lua: pay or cancel one order. */
const SCRIPT = 'settleOrder-5.lua'

export const SETTLE_ORDER_CODES = {
  0: 'done',
  1: 'already',
  [-7]: 'expired',
  [-8]: 'cancelled',
  [-9]: 'paid',
  [-10]: 'not_found',
  [-6]: 'bad_request',
} as const

export type SettleOrderResult =
  /** orderJson: the order as it now is, in the orders hash's JSON */
  | {
      readonly outcome: 'done' | 'already' | 'expired' | 'cancelled' | 'paid'
      readonly orderJson: string
    }
  | { readonly outcome: 'not_found' }
  | { readonly outcome: 'bad_request' }

/** KEYS of settleOrder-5.lua (and expireOrders-5.lua), in its header's order. */
export function settleOrderKeys(k: SaleKeys): string[] {
  return [k.sale, k.users, k.orders, k.expiry, k.stream]
}

export async function callSettleOrder(
  redis: Redis,
  prefix: string,
  saleId: string,
  orderId: string,
  action: 'pay' | 'cancel',
): Promise<SettleOrderResult> {
  const keys = settleOrderKeys(saleKeys(prefix, saleId))
  const [code, json] = (await callScript(redis, 'settleOrder', keys, [action, orderId])) as [
    number,
    string?,
  ]
  const outcome = nameOf(SCRIPT, SETTLE_ORDER_CODES, code)
  if (outcome === 'not_found' || outcome === 'bad_request') return { outcome }
  if (json === undefined) throw new Error(`${SCRIPT} answered ${outcome} without the order`)
  return { outcome, orderJson: json }
}
