import type { RedisClient } from '../redis-client'
import { nameOf, runOnSale, type ScriptArg, saleScript } from './script-call'

/** The gateway of native-lua/restoreSale-6.lua: one chunk of a sale rebuilt from PostgreSQL. */
export const RESTORE_SALE = saleScript(
  'restoreSale-6.lua',
  {
    0: 'done',
    [-1]: 'exists',
    [-5]: 'not_found',
    /** append: another token restores the sale; merge: a restore of it is unfinished */
    [-11]: 'restore_elsewhere',
    /** create: the sale's orders, users, keys or deadlines are there without its hash */
    [-12]: 'stray_keys',
    [-6]: 'bad_request',
  } as const,
  (k) => [k.sale, k.users, k.idem, k.orders, k.expiry, k.final],
)

/** An order as PostgreSQL holds it (paidAt null unless paid). */
export interface RestoredOrder {
  readonly orderId: string
  readonly userId: string
  readonly quantity: number
  readonly status: 'reserved' | 'paid' | 'cancelled' | 'expired'
  readonly idempotencyKey: string
  readonly createdAt: number
  readonly expiresAt: number
  readonly paidAt: number | null
}

/** The sale's definition, as PostgreSQL's `sales` row holds it. */
export interface RestoredDefinition {
  readonly name: string
  readonly stock: number
  readonly perUserLimit: number
  readonly endsAt: number | null
  readonly paymentTtlSeconds: number
  readonly closed: boolean
  readonly createdAt: number
}

export interface RestoreChunk {
  readonly mode: 'create' | 'append' | 'merge'
  /** names the restore run (1..64 bytes) */
  readonly token: string
  /** the last chunk of create/append: the sale gets its stock */
  readonly last: boolean
  /** create only (null otherwise): the sale's definition */
  readonly definition: RestoredDefinition | null
  readonly orders: readonly RestoredOrder[]
}

export type RestoreSaleResult =
  | {
      readonly outcome: 'done'
      /** orders new to Redis */
      readonly added: number
      /** orders Redis showed reserved that PostgreSQL holds final (merge) */
      readonly advanced: number
      /** orders already there, left as they are */
      readonly kept: number
      /** the sale's sold after the call */
      readonly sold: number
    }
  | { readonly outcome: 'exists' | 'not_found' | 'restore_elsewhere' | 'stray_keys' }
  /** `field` names the argument the script refused */
  | { readonly outcome: 'bad_request'; readonly field: string }

/** The ARGV of one chunk, in the header's order. */
export function encodeRestoreChunk(c: RestoreChunk): ScriptArg[] {
  const argv: ScriptArg[] = [c.mode, c.token, c.last ? '1' : '0']
  if (c.mode === 'create') {
    const d = c.definition
    if (d === null) throw new Error(`${RESTORE_SALE.file}: a create chunk needs the definition`)
    argv.push(d.name, d.stock, d.perUserLimit, d.endsAt ?? '', d.paymentTtlSeconds)
    argv.push(d.closed ? '1' : '0', d.createdAt)
  }
  argv.push(c.orders.length)
  for (const o of c.orders) {
    argv.push(o.orderId, o.userId, o.quantity, o.status, o.idempotencyKey)
    argv.push(o.createdAt, o.expiresAt, o.paidAt ?? '')
  }
  return argv
}

export async function callRestoreSale(
  redis: RedisClient,
  prefix: string,
  saleId: string,
  chunk: RestoreChunk,
): Promise<RestoreSaleResult> {
  const argv = encodeRestoreChunk(chunk)
  const reply = (await runOnSale(redis, RESTORE_SALE, prefix, saleId, argv)) as [
    number,
    ...(number | string)[],
  ]
  const outcome = nameOf(RESTORE_SALE, reply[0])
  if (outcome === 'bad_request') return { outcome, field: String(reply[1] ?? '') }
  if (outcome !== 'done') return { outcome }
  const [, added, advanced, kept, sold] = reply.map(Number)
  return { outcome, added: added!, advanced: advanced!, kept: kept!, sold: sold! }
}
