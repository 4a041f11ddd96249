import type { RedisClient } from '../redis-client'
import { nameOf, runOnSale, saleScript } from './script-call'

/** The gateway of native-lua/settleOrder-5.lua: pay or cancel one order. */
export const SETTLE_ORDER = saleScript(
  'settleOrder-5.lua',
  {
    0: 'done',
    1: 'already',
    [-7]: 'expired',
    [-8]: 'cancelled',
    [-9]: 'paid',
    [-10]: 'not_found',
    [-6]: 'bad_request',
  } as const,
  (k) => [k.sale, k.users, k.orders, k.expiry, k.stream],
  { rings: true },
)

export type SettleOrderResult =
  /**
   * orderValue: the order as it now is, its value in the orders hash (orderFromHash reads it: the
   * record, or the JSON of an order the previous version wrote and nothing has changed since)
   */
  | {
      readonly outcome: 'done' | 'already' | 'expired' | 'cancelled' | 'paid'
      readonly orderValue: string
    }
  | { readonly outcome: 'not_found' }
  | { readonly outcome: 'bad_request' }

export async function callSettleOrder(
  redis: RedisClient,
  prefix: string,
  saleId: string,
  orderId: string,
  action: 'pay' | 'cancel',
): Promise<SettleOrderResult> {
  const reply = await runOnSale(redis, SETTLE_ORDER, prefix, saleId, [action, orderId])
  const [code, value] = reply as [number, string?]
  const outcome = nameOf(SETTLE_ORDER, code)
  if (outcome === 'not_found' || outcome === 'bad_request') return { outcome }
  if (value === undefined) throw new Error(`${SETTLE_ORDER.file} answered ${outcome} alone`)
  return { outcome, orderValue: value }
}
