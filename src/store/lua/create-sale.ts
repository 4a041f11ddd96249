import type Redis from 'ioredis'
import { type SaleKeys, saleKeys } from '../keys'
import { callScript, nameOf } from './script-call'

/** The gateway of native-lua/createSale-1.lua: create a sale unless one with its id exists. */
const SCRIPT = 'createSale-1.lua'

export const CREATE_SALE_CODES = {
  1: 'created',
  [-1]: 'exists',
  [-6]: 'bad_request',
} as const

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

/** KEYS of createSale-1.lua, in its header's order. */
export function createSaleKeys(k: SaleKeys): [sale: string] {
  return [k.sale]
}

export async function callCreateSale(
  redis: Redis,
  prefix: string,
  saleId: string,
  s: SaleDefinitionArgs,
): Promise<CreateSaleResult> {
  const [code, field] = (await callScript(
    redis,
    'createSale',
    createSaleKeys(saleKeys(prefix, saleId)),
    [s.name, s.stock, s.perUserLimit, s.startsAt ?? '', s.endsAt ?? '', s.paymentTtlSeconds],
  )) as [number, string?]
  const outcome = nameOf(SCRIPT, CREATE_SALE_CODES, code)
  return outcome === 'bad_request' ? { outcome, field: field ?? '' } : { outcome }
}
