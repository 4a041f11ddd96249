import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import {
  decodeStoredOrder,
  encodeStoredOrder,
  type StoredOrder,
} from '../../src/orders/order-record'
import { oldOrderJson } from '../helpers/orders'
import { openRedis } from '../helpers/redis'

/**
 * An order's value in the orders hash has two codecs: native-lua/includes/orderRecord.lua, which
 * every script uses, and its mirror in src/orders/order-record.ts, which the API and the
 * reconciler read with. Here both meet on one table of orders: what one encodes the other
 * decodes to the same order and encodes to the same bytes, both read the previous version's
 * JSON, and both refuse the same malformed values. The Lua codec runs as it is, in an EVAL of
 * the include with a few lines around it. (The scripts' own tests check that each writes through
 * it: test/lua/order-entry.test.ts and the contract tests, byte for byte.)
 */
const redis = openRedis(t)

const INCLUDE = readFileSync(join(__dirname, '../../native-lua/includes/orderRecord.lua'), 'utf8')

/** The order's fields as Lua decodes them, every one a string: paidAt '' when not paid. */
const FIELDS = `
local function ms(x) if x == '' then return '' end return string.format('%d', x) end
local function fields(o)
  return {o.status, ms(o.quantity), ms(o.createdAt), ms(o.expiresAt), ms(o.paidAt), o.userId,
    o.idempotencyKey}
end
`

/** ARGV[1] a value: {the value Lua re-encodes it to, then its fields}. */
const DECODE = `${INCLUDE}${FIELDS}
local o = decodeOrder(ARGV[1], 'o1')
local out = fields(o)
table.insert(out, 1, encodeOrder(o))
return out
`

/** ARGV: the fields of an order; the value Lua encodes them to. */
const ENCODE = `${INCLUDE}
local paidAt = ARGV[5] == '' and '' or tonumber(ARGV[5])
return encodeOrder({ status = ARGV[1], quantity = tonumber(ARGV[2]), createdAt = tonumber(ARGV[3]),
  expiresAt = tonumber(ARGV[4]), paidAt = paidAt, userId = ARGV[6], idempotencyKey = ARGV[7] })
`

function fieldsOf(o: StoredOrder): string[] {
  return [
    o.status,
    String(o.quantity),
    String(o.createdAt),
    String(o.expiresAt),
    o.paidAt === null ? '' : String(o.paidAt),
    o.userId,
    o.idempotencyKey,
  ]
}

const T = 1_700_000_000_000
const BASE: StoredOrder = {
  userId: 'u1',
  quantity: 2,
  status: 'reserved',
  idempotencyKey: 'k',
  createdAt: T,
  expiresAt: T + 300_000,
  paidAt: null,
}

const ORDERS: [string, StoredOrder][] = [
  ['a reserved order', BASE],
  ['a paid order', { ...BASE, status: 'paid', paidAt: T + 42_123 }],
  ['a cancelled order', { ...BASE, status: 'cancelled' }],
  ['an expired order', { ...BASE, status: 'expired' }],
  ['an anonymous buyer without a key', { ...BASE, userId: '', idempotencyKey: '' }],
  [
    'an anonymous buyer with a key of digits and colons',
    { ...BASE, userId: '', idempotencyKey: '12:3' },
  ],
  ['a user id of separators and digits', { ...BASE, userId: '12:a,b', idempotencyKey: '3:k,' }],
  ['a user id that reads as a record', { ...BASE, userId: 'r1,2,3,,0:', idempotencyKey: '{' }],
  ['a key that starts with {', { ...BASE, userId: '', idempotencyKey: '{"a":1}' }],
  ['multi-byte characters', { ...BASE, userId: 'ü😀', idempotencyKey: '😀é' }],
  [
    'the longest ids HTTP lets through: 512 bytes each',
    { ...BASE, userId: '😀'.repeat(128), idempotencyKey: '😀'.repeat(128) },
  ],
  ['the largest quantity restoreSale-6.lua takes', { ...BASE, quantity: 1e9 }],
  [
    'times before createdAt (restored from PostgreSQL as they were)',
    { ...BASE, status: 'paid', expiresAt: T - 5, paidAt: T - 7 },
  ],
  [
    'a time of 16 digits',
    { ...BASE, createdAt: 1e15 - 1, expiresAt: 1e15, status: 'paid', paidAt: 1e15 },
  ],
  ['time 0', { ...BASE, createdAt: 0, expiresAt: 0 }],
]

t.test('Lua decodes what TypeScript encodes, and encodes it back to the same bytes', async (t) => {
  for (const [what, o] of ORDERS) {
    const value = encodeStoredOrder(o)
    const got = (await redis.eval(DECODE, 0, value)) as string[]
    t.same(got, [value, ...fieldsOf(o)], what)
  }
})

t.test('TypeScript decodes what Lua encodes, and encodes it back to the same bytes', async (t) => {
  for (const [what, o] of ORDERS) {
    const value = (await redis.eval(ENCODE, 0, ...fieldsOf(o))) as string
    t.same(decodeStoredOrder(value), o, `${what}: decoded`)
    t.equal(encodeStoredOrder(decodeStoredOrder(value)), value, `${what}: the same bytes`)
  }
})

t.test('both read the JSON of the previous version to the same order', async (t) => {
  for (const [what, o] of ORDERS) {
    const json = oldOrderJson(o)
    t.same(decodeStoredOrder(json), o, `${what}: TypeScript`)
    const got = (await redis.eval(DECODE, 0, json)) as string[]
    t.same(got, [encodeStoredOrder(o), ...fieldsOf(o)], `${what}: Lua, and its record`)
  }
  // The first version wrote neither status nor paidAt: both take such an order for reserved.
  const first = JSON.stringify({
    userId: 'u1',
    quantity: 2,
    createdAt: T,
    expiresAt: T + 300_000,
    idempotencyKey: 'k',
  })
  t.same(decodeStoredOrder(first), BASE, 'no status, no paidAt: TypeScript')
  t.same(
    await redis.eval(DECODE, 0, first),
    [encodeStoredOrder(BASE), ...fieldsOf(BASE)],
    'no status, no paidAt: Lua',
  )
})

t.test('Lua keeps a user id of any bytes, the ones TypeScript never sees too', async (t) => {
  // Not UTF-8 (0xff), NUL, and bytes that look like the record's own separators.
  const userId = Buffer.from([0x00, 0xff, 0x3a, 0x2c, 0x31, 0x00])
  const key = Buffer.from([0x3a, 0x00, 0xfe])
  const value = (await redis.callBuffer(
    'EVAL',
    ENCODE,
    0,
    'paid',
    1,
    T,
    T + 1,
    T + 2,
    userId,
    key,
  )) as Buffer
  t.same(
    value,
    Buffer.concat([Buffer.from(`p1,${T},1,2,6:`), userId, key]),
    'the record: its ids as they are, after the length in bytes',
  )
  const got = (await redis.callBuffer('EVAL', DECODE, 0, value)) as Buffer[]
  t.same(got[0], value, 'encoded back to the same bytes')
  t.same(got[6], userId, 'the user id, byte for byte')
  t.same(got[7], key, 'the key, byte for byte')
})

const BAD: [string, string][] = [
  ['nothing', ''],
  ['an unknown status letter', 'x2,1700000000000,300000,,2:u1k'],
  ['an upper-case status letter', 'R2,1700000000000,300000,,2:u1k'],
  ['no quantity', 'r,1700000000000,300000,,2:u1k'],
  ['a missing time', 'r2,1700000000000,300000,2:u1k'],
  ['a fractional time', 'r2,1700000000000.5,300000,,2:u1k'],
  ['no user id length', 'r2,1700000000000,300000,,u1k'],
  ['a user id longer than the rest of the value', 'r2,1700000000000,300000,,4:u1k'],
  ['a space before the record', ' r2,1700000000000,300000,,2:u1k'],
]

t.test('both refuse the same malformed values: Lua with an error naming the order', async (t) => {
  for (const [what, value] of BAD) {
    t.throws(
      () => decodeStoredOrder(value),
      /not an order of the orders hash/,
      `${what}: TypeScript`,
    )
    await t.rejects(
      redis.eval(DECODE, 0, value),
      /order o1: its value in the orders hash is neither an order record nor JSON/,
      `${what}: Lua`,
    )
  }
})
