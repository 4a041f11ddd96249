import type { RedisClient } from '../redis-client'
import { nameOf, runOnSale, saleScript } from './script-call'

/** The gateway of native-lua/createSale-1.lua: create a sale unless one with its id exists. */
export const CREATE_SALE = saleScript(
  'createSale-1.lua',
  { 1: 'created', [-1]: 'exists', [-6]: 'bad_request' } as const,
  (k): [sale: string] => [k.sale],
  { rings: true },
)

export interface SaleDefinitionArgs {
  readonly name: string
  readonly stock: number
  readonly perUserLimit: number
  /** epoch ms; null: starts only when started by hand */
  readonly startsAt: number | null
  /** epoch ms; null: no end */
  readonly endsAt: number | null
  readonly paymentTtlSeconds: number
}

export type CreateSaleResult =
  | { readonly outcome: 'created' | 'exists' }
  /** `field` names the argument the script refused */
  | { readonly outcome: 'bad_request'; readonly field: string }

export async function callCreateSale(
  redis: RedisClient,
  prefix: string,
  saleId: string,
  s: SaleDefinitionArgs,
): Promise<CreateSaleResult> {
  const argv = [s.name, s.stock, s.perUserLimit, s.startsAt ?? '', s.endsAt ?? '']
  argv.push(s.paymentTtlSeconds)
  const [code, field] = (await runOnSale(redis, CREATE_SALE, prefix, saleId, argv)) as [
    number,
    string?,
  ]
  const outcome = nameOf(CREATE_SALE, code)
  return outcome === 'bad_request' ? { outcome, field: field ?? '' } : { outcome }
}
