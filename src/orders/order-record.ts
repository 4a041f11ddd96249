import { isIdentifier } from '../identifier'

/**
 * An order as the three places hold it: its record in the sale's Redis orders hash, an entry of
 * the sale's order stream, and a PostgreSQL row. Pure: no I/O.
 */
export type OrderStatus = 'reserved' | 'paid' | 'expired' | 'cancelled'

const STATUSES: ReadonlySet<string> = new Set(['reserved', 'paid', 'expired', 'cancelled'])

export interface OrderRecord {
  readonly orderId: string
  readonly saleId: string
  /** '' for an anonymous buyer (/buy/ticket without a user) */
  readonly userId: string
  readonly quantity: number
  readonly status: OrderStatus
  /** '' for none */
  readonly idempotencyKey: string
  /** epoch ms, Redis clock */
  readonly createdAt: number
  readonly expiresAt: number
  readonly paidAt: number | null
}

/** An order as the sale's orders hash holds it: the hash names the sale, the field is the id. */
export type StoredOrder = Omit<OrderRecord, 'orderId' | 'saleId'>

const LETTER: Readonly<Record<OrderStatus, string>> = {
  reserved: 'r',
  paid: 'p',
  cancelled: 'c',
  expired: 'e',
}
const STATUS_OF: Readonly<Record<string, OrderStatus>> = {
  r: 'reserved',
  p: 'paid',
  c: 'cancelled',
  e: 'expired',
}

/**
 * An order's value in the orders hash, the mirror of native-lua/includes/orderRecord.lua (where
 * the format is explained; test/lua/order-record.test.ts holds the two to the same bytes):
 * `<status letter><quantity>,<createdAt>,<expiresAt - createdAt>,<paidAt - createdAt or ''>,
 * <byte length of userId>:<userId><idempotencyKey>`. The scripts write it; here it is written
 * only by tests, which set up what the scripts would have left.
 */
export function encodeStoredOrder(o: StoredOrder): string {
  const paid = o.paidAt === null ? '' : String(o.paidAt - o.createdAt)
  return (
    `${LETTER[o.status]}${o.quantity},${o.createdAt},${o.expiresAt - o.createdAt},${paid},` +
    `${Buffer.byteLength(o.userId)}:${o.userId}${o.idempotencyKey}`
  )
}

const HEAD = /^([a-zA-Z])(\d+),(\d+),(-?\d+),(-?\d*),(\d+):/

/**
 * Read an order's value in the orders hash: the compact record, or the JSON the scripts wrote
 * before it (a value starting with '{'; an upgraded node still finds them in Redis). A value that
 * is neither throws: the orders hash is written by the scripts alone, so it is a fault.
 */
export function decodeStoredOrder(value: string): StoredOrder {
  if (value.startsWith('{')) return fromOldJson(value)
  const m = HEAD.exec(value)
  const status = m ? STATUS_OF[m[1]!] : undefined
  if (!m || !status) throw notARecord(value)
  // The user id's length is in bytes (Lua's #); the rest of the value is UTF-8 text (ioredis
  // decoded it, and src/identifier.ts admits text only), so a Buffer splits it where Lua does.
  const rest = Buffer.from(value.slice(m[0].length), 'utf8')
  const userBytes = Number(m[6])
  if (userBytes > rest.length) throw notARecord(value)
  const createdAt = Number(m[3])
  return {
    userId: rest.toString('utf8', 0, userBytes),
    quantity: Number(m[2]),
    status,
    idempotencyKey: rest.toString('utf8', userBytes),
    createdAt,
    expiresAt: createdAt + Number(m[4]),
    paidAt: m[5] === '' ? null : createdAt + Number(m[5]),
  }
}

function notARecord(value: string): Error {
  return new Error(`not an order of the orders hash: ${JSON.stringify(value.slice(0, 60))}`)
}

/** The order JSON reserve-6.lua and settleOrder-5.lua kept in the orders hash before the record. */
interface OrderJson {
  userId: string
  quantity: number
  createdAt: number
  expiresAt: number
  idempotencyKey: string
  status?: string
  paidAt?: number | ''
}

function fromOldJson(json: string): StoredOrder {
  const o = JSON.parse(json) as OrderJson
  return {
    userId: o.userId,
    quantity: o.quantity,
    status: (o.status ?? 'reserved') as OrderStatus,
    idempotencyKey: o.idempotencyKey,
    createdAt: o.createdAt,
    expiresAt: o.expiresAt,
    paidAt: typeof o.paidAt === 'number' ? o.paidAt : null,
  }
}

/** One order of a sale's orders hash: its id (the hash field), and its value decoded. */
export function orderFromHash(orderId: string, saleId: string, value: string): OrderRecord {
  return { orderId, saleId, ...decodeStoredOrder(value) }
}

/**
 * The fields of an order stream entry, in the order reserve-6.lua, settleOrder-5.lua and
 * expireOrders-5.lua XADD them (test/lua/order-entry.test.ts holds the scripts to it).
 * `orderEntry` encodes one; the writer decodes with `orderFromEntry`.
 */
export const ENTRY_FIELDS = [
  'orderId',
  'userId',
  'quantity',
  'createdAt',
  'expiresAt',
  'idempotencyKey',
  'status',
  'paidAt',
] as const

/** One entry's values; loose on purpose, so tests can also write entries no script would. */
export type EntryValues = Readonly<Record<(typeof ENTRY_FIELDS)[number], string | number>>

/** An entry as XADD's flat [field, value, ...] list, exactly as the scripts append it. */
export function orderEntry(v: EntryValues): string[] {
  const flat: string[] = []
  for (const f of ENTRY_FIELDS) flat.push(f, String(v[f]))
  return flat
}

const MAX_MS = 1e15

function ms(v: string | undefined): number | null {
  if (v === undefined || !/^\d{1,16}$/.test(v)) return null
  const n = Number(v)
  return n <= MAX_MS ? n : null
}

/**
 * Parse one stream entry's flat [field, value, ...] list. Returns the order, or a sentence saying
 * what is wrong (such an entry can never be written: it goes to the dead-letter stream).
 */
export function orderFromEntry(saleId: string, flat: readonly string[]): OrderRecord | string {
  const f: Record<string, string> = {}
  for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!
  const orderId = f.orderId
  if (!orderId || orderId.length > 200) return 'orderId is missing or longer than 200 bytes'
  const quantity = Number(f.quantity)
  if (!Number.isInteger(quantity) || quantity < 1) return `quantity "${f.quantity}" is not >= 1`
  // The HTTP rule (src/identifier.ts), checked again so an entry PostgreSQL would refuse (an old
  // one with a NUL) goes to the dead letters with this sentence, not a driver error. '' is anonymous.
  if (f.userId === undefined || (f.userId !== '' && !isIdentifier(f.userId))) {
    return 'userId is missing or not 1-128 characters of text'
  }
  const key = f.idempotencyKey ?? ''
  if (key !== '' && !isIdentifier(key)) return 'idempotencyKey is not 1-128 characters of text'
  const status = f.status ?? 'reserved'
  if (!STATUSES.has(status)) return `status "${status}" is not an order status`
  const createdAt = ms(f.createdAt)
  const expiresAt = ms(f.expiresAt)
  if (createdAt === null || expiresAt === null) return 'createdAt or expiresAt is not epoch ms'
  const paidAt = f.paidAt ? ms(f.paidAt) : null
  if ((status === 'paid') !== (paidAt !== null)) return 'paidAt must be set exactly when paid'
  return {
    orderId,
    saleId,
    userId: f.userId,
    quantity,
    status: status as OrderStatus,
    idempotencyKey: key,
    createdAt,
    expiresAt,
    paidAt,
  }
}

/** Reserved orders may still change; the other states are final. */
export function isFinal(s: OrderStatus): boolean {
  return s !== 'reserved'
}

/** Live orders hold stock (I1, I3 count them). */
export function isLive(s: OrderStatus): boolean {
  return s === 'reserved' || s === 'paid'
}

/**
 * One record per order id, in first-seen order, keeping the final state when a batch holds both
 * the creation and the change of one order (one INSERT cannot touch a row twice). An order has at
 * most one final state: Redis decides it once.
 */
export function collapse(orders: readonly OrderRecord[]): OrderRecord[] {
  const byId = new Map<string, OrderRecord>()
  for (const o of orders) {
    const seen = byId.get(o.orderId)
    if (!seen || (!isFinal(seen.status) && isFinal(o.status))) byId.set(o.orderId, o)
  }
  return [...byId.values()]
}

/** The body of GET /api/v1/orders/:id and of the pay and cancel answers (API.md). */
export function orderView(o: OrderRecord) {
  return {
    orderId: o.orderId,
    saleId: o.saleId,
    userId: o.userId,
    quantity: o.quantity,
    status: o.status,
    createdAt: new Date(o.createdAt).toISOString(),
    expiresAt: new Date(o.expiresAt).toISOString(),
    paidAt: o.paidAt === null ? null : new Date(o.paidAt).toISOString(),
  }
}
