import { ADMIN_TOKEN } from '../../bench/harness/servers'
import { saleKeys } from '../../src/store/keys'
import type { RedisClient } from '../../src/store/redis-client'
import type { Client, Reply } from './http'

/**
 * What both ways of running the server under test (a whole node, test/helpers/server.ts, or one
 * worker in the test's process, test/helpers/in-process.ts) offer the same: admin calls with the
 * test token, a sale created (and started) through the API, and the sale as Redis holds it.
 */
export interface SaleApi {
  admin(method: string, path: string, body?: unknown): Promise<Reply>
  /** Create (and by default start) a sale through the admin API; throws if either is refused. */
  sale(id: string, fields: Record<string, unknown>, start?: boolean): Promise<void>
  /** the sale's counters, orders and holdings, as Redis has them */
  state(saleId: string): Promise<SaleState>
}

export interface SaleState {
  readonly sold: number
  readonly stock: number
  readonly streamLength: number
  readonly orders: number
  readonly users: Record<string, string>
}

export function saleApi(http: Client, redis: RedisClient, prefix: string): SaleApi {
  const admin = (method: string, path: string, body?: unknown) =>
    http.request(method, path, body, { authorization: `Bearer ${ADMIN_TOKEN}` })
  return {
    admin,
    async sale(id, fields, start = true) {
      const created = await admin('POST', '/api/v1/sales', { id, name: id, ...fields })
      if (created.status !== 201)
        throw new Error(`creating sale ${id}: ${created.status} ${created.text}`)
      if (!start) return
      const started = await admin('POST', `/api/v1/sales/${id}/start`)
      if (started.status !== 200)
        throw new Error(`starting sale ${id}: ${started.status} ${started.text}`)
    },
    async state(saleId) {
      const k = saleKeys(prefix, saleId)
      const [sale, streamLength, orders, users] = await Promise.all([
        redis.hgetall(k.sale),
        redis.xlen(k.stream),
        redis.hlen(k.orders),
        redis.hgetall(k.users),
      ])
      return { sold: Number(sale.sold), stock: Number(sale.stock), streamLength, orders, users }
    },
  }
}
