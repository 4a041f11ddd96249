import type { RedisClient } from '../redis-client'
import { nameOf, runOnSale, saleScript } from './script-call'

/** The gateway of native-lua/adjustStock-1.lua: raise a sale's stock, or take unsold units away. */
export const ADJUST_STOCK = saleScript(
  'adjustStock-1.lua',
  {
    0: 'adjusted',
    [-4]: 'closed',
    [-5]: 'not_found',
    [-6]: 'bad_request',
    [-11]: 'restoring',
    [-12]: 'too_few_unsold',
    [-13]: 'over_max',
  } as const,
  (k): [sale: string] => [k.sale],
  { rings: true },
)

/** A change of stock: `units` (1..10^9) added or removed. */
export interface StockChange {
  readonly action: 'add' | 'remove'
  readonly units: number
}

export type AdjustStockResult =
  /** the stock after the change, and the units sold at that moment */
  | { readonly outcome: 'adjusted'; readonly stock: number; readonly sold: number }
  /** remove: at most `removable` units are neither sold nor in flight */
  | { readonly outcome: 'too_few_unsold'; readonly removable: number }
  /** add: the stock may rise by at most `addable` more (10^9 in all) */
  | { readonly outcome: 'over_max'; readonly addable: number }
  | { readonly outcome: 'closed' | 'not_found' | 'restoring' }
  /** `field` names the argument the script refused */
  | { readonly outcome: 'bad_request'; readonly field: string }

export async function callAdjustStock(
  redis: RedisClient,
  prefix: string,
  saleId: string,
  change: StockChange,
): Promise<AdjustStockResult> {
  const argv = [change.action, String(change.units)]
  const [code, a, b] = (await runOnSale(redis, ADJUST_STOCK, prefix, saleId, argv)) as [
    number,
    (number | string)?,
    number?,
  ]
  const outcome = nameOf(ADJUST_STOCK, code)
  switch (outcome) {
    case 'adjusted':
      return { outcome, stock: Number(a), sold: Number(b) }
    case 'too_few_unsold':
      return { outcome, removable: Number(a) }
    case 'over_max':
      return { outcome, addable: Number(a) }
    case 'bad_request':
      return { outcome, field: String(a ?? '') }
    default:
      return { outcome }
  }
}
