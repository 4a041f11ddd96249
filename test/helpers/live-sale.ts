import { Agent, request } from 'node:http'
import type { Pool } from 'pg'
import { saleKeys } from '../../src/store/keys'
import type { RedisClient } from '../../src/store/redis-client'
import { waitFor } from './pg'

/**
 * A live sale under a fault: buyers who keep asking, each answer recorded, and the checks of
 * DESIGN.md's invariants once the fault is over. Buyers address a port, not a Server, so a node
 * killed and started again on the same port keeps its buyers.
 */

/** What one buyer (a user id of its own) was told. */
export type Told =
  /** 201/200, or `code: 1` on /buy/ticket: an order exists (I4: it must reach PostgreSQL) */
  | 'won'
  /** 503 outcome_unknown (or `code: 0`): there may be an order with `orderId` */
  | 'unknown'
  /** a 409, 429, 400 or `code: -1`: I5, no order may exist for this user */
  | 'refused'
  /** 503 unavailable: nothing was reserved, so no order may exist either */
  | 'unavailable'
  /** no answer: the connection was cut (a worker or the node killed) or the client gave up */
  | 'dropped'

export interface Answer {
  readonly user: string
  readonly told: Told
  readonly status: number
  readonly orderId: string | null
  /** epoch ms when the request was sent */
  readonly at: number
  /** from the request's start to its answer (or its end) */
  readonly ms: number
  readonly body: string
}

export interface BuyerOptions {
  readonly port: number
  readonly saleId: string
  /** concurrent keep-alive buyers */
  readonly lanes?: number
  /** pause of each buyer between requests: keeps the load steady, not a flood of a 2-core box */
  readonly gapMs?: number
  /** every n-th request goes to the Go reference's /buy/ticket (0: none) */
  readonly compatEvery?: number
  /** a request unanswered this long counts as dropped, and the test sees how long it waited */
  readonly timeoutMs?: number
}

export class Buyers {
  readonly answers: Answer[] = []
  private readonly agent: Agent
  private running = false
  private lanes: Promise<void>[] = []
  private next = 0
  private readonly o: Required<BuyerOptions>
  private readonly tag = Math.random().toString(36).slice(2, 8)

  constructor(o: BuyerOptions) {
    this.o = { lanes: 24, gapMs: 5, compatEvery: 4, timeoutMs: 10000, ...o }
    this.agent = new Agent({ keepAlive: true, maxSockets: this.o.lanes })
  }

  start(): void {
    this.running = true
    this.lanes = Array.from({ length: this.o.lanes }, () => this.lane())
  }

  async stop(): Promise<void> {
    this.running = false
    await Promise.all(this.lanes)
    this.agent.destroy()
  }

  count(told: Told): number {
    return this.answers.filter((a) => a.told === told).length
  }

  private async lane(): Promise<void> {
    while (this.running) {
      const n = this.next++
      const user = `${this.tag}-${n}`
      const compat = this.o.compatEvery > 0 && n % this.o.compatEvery === 0
      this.answers.push(await this.buy(user, compat))
      if (this.o.gapMs > 0) await new Promise((r) => setTimeout(r, this.o.gapMs))
    }
  }

  private buy(user: string, compat: boolean): Promise<Answer> {
    const started = Date.now()
    const path = compat
      ? `/buy/ticket?user=${encodeURIComponent(user)}`
      : `/api/v1/sales/${this.o.saleId}/orders`
    const payload = compat ? undefined : JSON.stringify({ userId: user })
    return new Promise<Answer>((resolve) => {
      let settled = false
      const done = (status: number, body: string) => {
        if (settled) return
        settled = true
        const ms = Date.now() - started
        resolve({ user, at: started, ms, status, body, ...classify(compat, status, body) })
      }
      const req = request(
        {
          host: '127.0.0.1',
          port: this.o.port,
          method: compat ? 'GET' : 'POST',
          path,
          agent: this.agent,
          headers: payload ? { 'content-type': 'application/json' } : {},
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => done(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')))
          res.on('error', () => done(0, 'response cut'))
        },
      )
      req.setTimeout(this.o.timeoutMs, () => {
        done(0, 'no answer in time')
        req.destroy()
      })
      req.on('error', (err) => done(0, err.message))
      req.end(payload)
    })
  }
}

function classify(
  compat: boolean,
  status: number,
  body: string,
): { told: Told; orderId: string | null } {
  if (status === 0) return { told: 'dropped', orderId: null }
  let json: {
    code?: number
    msg?: string
    error?: string
    orderId?: string
    data?: { orderId?: string }
  }
  try {
    json = JSON.parse(body)
  } catch {
    return { told: status >= 500 ? 'unavailable' : 'refused', orderId: null }
  }
  if (compat) {
    if (json.code === 1) return { told: 'won', orderId: json.data?.orderId ?? null }
    if (json.code === 0) return { told: 'unknown', orderId: json.data?.orderId ?? null }
    if (json.msg === '系统繁忙，请重试') return { told: 'unavailable', orderId: null }
    return { told: 'refused', orderId: null }
  }
  if (status === 201 || status === 200) return { told: 'won', orderId: json.orderId ?? null }
  if (json.error === 'outcome_unknown') return { told: 'unknown', orderId: json.orderId ?? null }
  if (status >= 500) return { told: 'unavailable', orderId: null }
  return { told: 'refused', orderId: null }
}

export interface Deployment {
  readonly port: number
  readonly prefix: string
  /** a client on the deployment's Redis */
  readonly redis: RedisClient
  /** a pool on the deployment's PostgreSQL schema */
  readonly pg: Pool
}

interface Assert {
  ok(v: unknown, msg: string): void
  equal(a: unknown, b: unknown, msg: string): void
  same(a: unknown, b: unknown, msg: string): void
}

interface Row {
  order_id: string
  user_id: string
  quantity: number
  status: string
}

/**
 * After the fault: within `withinMs`, PostgreSQL holds every order Redis made (the stream has
 * drained), and then the invariants hold: every won order is there once with its buyer (I4); no
 * user who was refused or told "unavailable" has an order (I5); nothing sold past the stock (I2);
 * no user over the limit of 1 (I3); an unknown outcome is either a whole order or nothing; the
 * sale's GET agrees with PostgreSQL; nothing was dead-lettered.
 */
export async function checkAtRest(
  t: Assert,
  d: Deployment,
  saleId: string,
  buyers: Buyers,
  stock: number,
  withinMs = 30000,
): Promise<void> {
  const k = saleKeys(d.prefix, saleId)
  const won = buyers.answers.filter((a) => a.told === 'won')
  const rows = async () =>
    (
      await d.pg.query<Row>(
        'SELECT order_id, user_id, quantity, status FROM orders WHERE sale_id = $1',
        [saleId],
      )
    ).rows
  let last = ''
  await waitFor(
    'PostgreSQL to hold every order Redis made, and the stream to drain',
    async () => {
      const [streamLength, orders, r] = await Promise.all([
        d.redis.xlen(k.stream),
        d.redis.hlen(k.orders),
        rows(),
      ])
      last = `${streamLength} entries in the stream, ${orders} orders in Redis, ${r.length} in PostgreSQL`
      return streamLength === 0 && r.length === orders
    },
    withinMs,
  ).catch(async (err: Error) => {
    // What was left, to tell a writer that stopped from one that was slow.
    const groups = await d.redis.xinfo('GROUPS', k.stream).catch((e: Error) => e.message)
    const pending = await d.redis.xpending(k.stream, 'writers').catch((e: Error) => e.message)
    throw new Error(
      `${err.message}: ${last}; groups ${JSON.stringify(groups)}; pending ${JSON.stringify(pending)}`,
    )
  })
  const inPg = new Map((await rows()).map((r) => [r.order_id, r]))
  const missing = won.filter((a) => a.orderId === null || !inPg.has(a.orderId))
  t.same(
    missing.map((a) => a.orderId),
    [],
    `every one of the ${won.length} orders a buyer was told about is in PostgreSQL (I4)`,
  )
  t.same(
    won.filter((a) => inPg.get(a.orderId ?? '')?.user_id !== a.user && inPg.has(a.orderId ?? '')),
    [],
    'each with the buyer it was told to',
  )
  const noOrder = new Set(
    buyers.answers
      .filter((a) => a.told === 'refused' || a.told === 'unavailable')
      .map((a) => a.user),
  )
  const phantoms = [...inPg.values()].filter((r) => noOrder.has(r.user_id))
  t.same(phantoms, [], 'no order for a buyer who was refused or told nothing was reserved (I5)')

  const [sale, ordersInRedis] = await Promise.all([d.redis.hgetall(k.sale), d.redis.hlen(k.orders)])
  const units = [...inPg.values()]
    .filter((r) => r.status === 'reserved' || r.status === 'paid')
    .reduce((n, r) => n + r.quantity, 0)
  t.equal(inPg.size, ordersInRedis, 'PostgreSQL holds each order Redis made, once')
  t.equal(units, Number(sale.sold), 'units in PostgreSQL equal Redis sold')
  t.ok(units <= stock, `no oversell: ${units} units sold of ${stock} (I2)`)
  const perUser = new Map<string, number>()
  for (const r of inPg.values()) perUser.set(r.user_id, (perUser.get(r.user_id) ?? 0) + r.quantity)
  t.same(
    [...perUser].filter(([, n]) => n > 1),
    [],
    'no user holds more than the limit of 1 (I3)',
  )
  const unknown = buyers.answers.filter((a) => a.told === 'unknown')
  t.ok(
    unknown.every((a) => a.orderId?.startsWith(`${saleId}.`) === true),
    `each of the ${unknown.length} unknown outcomes names its order id`,
  )
  t.equal(await d.redis.xlen(k.dead), 0, 'nothing was dead-lettered')

  // The sale's GET may be up to 1 s stale (API.md): wait for it to agree, then check it.
  let view: { sold?: number } = {}
  await waitFor(
    "the sale's GET to agree with PostgreSQL",
    async () => {
      view = await getJson(d.port, `/api/v1/sales/${saleId}`)
      return view.sold === units
    },
    5000,
  ).catch(() => {})
  t.equal(view.sold, units, "the sale's GET says as many sold as PostgreSQL holds")
}

function getJson(port: number, path: string): Promise<{ sold?: number }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')))
        } catch (err) {
          reject(err)
        }
      })
    })
      .on('error', reject)
      .end()
  })
}
