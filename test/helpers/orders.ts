import { encodeStoredOrder, type StoredOrder } from '../../src/orders/order-record'

/**
 * The two forms an order's value in the orders hash can have, for the scripts' contract tests:
 * the record the scripts write (native-lua/includes/orderRecord.lua), and the JSON the previous
 * version wrote, which a node upgraded during a sale still finds in Redis. A table whose state
 * before holds orders runs once per form.
 */
export type OrderForm = 'record' | 'json'

export const ORDER_FORMS: readonly OrderForm[] = ['record', 'json']

/**
 * The JSON of an order as the previous version's scripts wrote it: cjson.encode of
 * {userId, quantity, createdAt, expiresAt, idempotencyKey, status, paidAt}, times as numbers,
 * paidAt '' until paid (cjson orders keys its own way; no reader depends on the order).
 */
export function oldOrderJson(o: StoredOrder): string {
  return JSON.stringify({
    userId: o.userId,
    quantity: o.quantity,
    createdAt: o.createdAt,
    expiresAt: o.expiresAt,
    idempotencyKey: o.idempotencyKey,
    status: o.status,
    paidAt: o.paidAt ?? '',
  })
}

/** The value to HSET for `o` in the given form. */
export function storedValue(o: StoredOrder, form: OrderForm): string {
  return form === 'record' ? encodeStoredOrder(o) : oldOrderJson(o)
}

/** The test name of a row run with orders in `form`: the record's run keeps the row's name. */
export function withForm(should: string, form: OrderForm): string {
  return form === 'record' ? should : `${should} (orders written as JSON by the previous version)`
}
