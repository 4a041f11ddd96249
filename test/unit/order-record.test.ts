import t from 'tap'
import {
  collapse,
  decodeStoredOrder,
  encodeStoredOrder,
  isFinal,
  isLive,
  type OrderRecord,
  type OrderStatus,
  orderFromEntry,
  orderFromHash,
  orderView,
  type StoredOrder,
} from '../../src/orders/order-record'

/**
 * src/orders/order-record.ts: the three shapes of an order (its value in the orders hash, a stream
 * entry, the API body) and collapse(). Pure functions; no I/O. (test/lua/order-record.test.ts holds
 * the orders-hash codec to the one the scripts use.)
 */

const CREATED = 1_700_000_000_000
const EXPIRES = CREATED + 300_000
const PAID = CREATED + 42_123

/** A stream entry as reserve-6.lua appends it, as a field map (flattened by `flat`). */
function fields(over: Record<string, string | undefined> = {}): Record<string, string> {
  const f: Record<string, string | undefined> = {
    orderId: 's1.AAAAAAAAAAAAAAAA',
    userId: 'alice',
    quantity: '2',
    createdAt: String(CREATED),
    expiresAt: String(EXPIRES),
    idempotencyKey: 'k-1',
    status: 'reserved',
    paidAt: '',
    ...over,
  }
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(f)) if (v !== undefined) out[k] = v
  return out
}

function flat(f: Record<string, string>): string[] {
  return Object.entries(f).flat()
}

function record(orderId: string, status: OrderStatus, paidAt: number | null = null): OrderRecord {
  return {
    orderId,
    saleId: 's1',
    userId: `user-of-${orderId}`,
    quantity: 1,
    status,
    idempotencyKey: '',
    createdAt: CREATED,
    expiresAt: EXPIRES,
    paidAt,
  }
}

t.test('orderFromEntry reads a reserved entry as reserve-6.lua writes it', async (t) => {
  t.same(orderFromEntry('s1', flat(fields())), {
    orderId: 's1.AAAAAAAAAAAAAAAA',
    saleId: 's1',
    userId: 'alice',
    quantity: 2,
    status: 'reserved',
    idempotencyKey: 'k-1',
    createdAt: CREATED,
    expiresAt: EXPIRES,
    paidAt: null,
  })
})

t.test(
  'orderFromEntry reads a paid entry with its paidAt as settleOrder-5.lua writes it',
  async (t) => {
    const o = orderFromEntry('s1', flat(fields({ status: 'paid', paidAt: String(PAID) })))
    t.match(o, { status: 'paid', paidAt: PAID })
  },
)

t.test('orderFromEntry reads expired and cancelled entries, whose paidAt is empty', async (t) => {
  for (const status of ['expired', 'cancelled'] as const) {
    t.match(orderFromEntry('s1', flat(fields({ status }))), { status, paidAt: null }, status)
  }
})

t.test(
  'an entry without a status or an idempotency key is a reserved order with no key',
  async (t) => {
    const o = orderFromEntry('s1', flat(fields({ status: undefined, idempotencyKey: undefined })))
    t.match(o, { status: 'reserved', idempotencyKey: '' })
  },
)

t.test('an anonymous buyer (empty userId) is a valid order', async (t) => {
  t.match(orderFromEntry('s1', flat(fields({ userId: '' }))), { userId: '' })
})

t.test(
  'a userId of 128 emoji (256 UTF-16 units) is accepted: the limit is characters',
  async (t) => {
    t.match(orderFromEntry('s1', flat(fields({ userId: '😀'.repeat(128) }))), {
      userId: '😀'.repeat(128),
    })
  },
)

t.test('a userId of 128 characters and an orderId of 200 are still accepted', async (t) => {
  const o = orderFromEntry(
    's1',
    flat(fields({ userId: 'u'.repeat(128), orderId: `s1.${'x'.repeat(197)}` })),
  )
  t.equal(typeof o, 'object')
})

t.test('the saleId comes from the caller, not from the entry', async (t) => {
  t.match(orderFromEntry('other', flat(fields({ saleId: 's1' }))), { saleId: 'other' })
})

t.test('orderFromEntry refuses each malformed field with a sentence naming it', async (t) => {
  const cases: [string, Record<string, string | undefined>, RegExp][] = [
    ['a missing orderId', { orderId: undefined }, /orderId/],
    ['an empty orderId', { orderId: '' }, /orderId/],
    ['an orderId over 200 bytes', { orderId: `s1.${'x'.repeat(198)}` }, /orderId/],
    ['a missing quantity', { quantity: undefined }, /quantity/],
    ['a quantity of 0', { quantity: '0' }, /quantity "0"/],
    ['a negative quantity', { quantity: '-1' }, /quantity/],
    ['a fractional quantity', { quantity: '1.5' }, /quantity "1.5"/],
    ['a quantity that is not a number', { quantity: 'two' }, /quantity "two"/],
    ['a missing userId', { userId: undefined }, /userId/],
    ['a userId over 128 characters', { userId: 'u'.repeat(129) }, /userId/],
    ['a userId with a NUL (PostgreSQL refuses it)', { userId: 'a\u0000b' }, /userId/],
    ['an idempotencyKey with a NUL', { idempotencyKey: 'k\u0000' }, /idempotencyKey/],
    ['an unknown status', { status: 'refunded' }, /status "refunded"/],
    ['a missing createdAt', { createdAt: undefined }, /createdAt/],
    ['a createdAt that is not a number', { createdAt: 'yesterday' }, /createdAt/],
    ['a negative createdAt', { createdAt: '-1' }, /createdAt/],
    ['a fractional createdAt', { createdAt: '1700000000000.5' }, /createdAt/],
    ['a createdAt beyond 1e15 ms', { createdAt: '1000000000000001' }, /createdAt/],
    ['a createdAt of 17 digits', { createdAt: '10000000000000000' }, /createdAt/],
    ['a missing expiresAt', { expiresAt: undefined }, /expiresAt/],
    ['an expiresAt that is not a number', { expiresAt: 'soon' }, /expiresAt/],
    ['a paid entry without paidAt', { status: 'paid', paidAt: '' }, /paidAt/],
    ['a paid entry with a paidAt that is not a number', { status: 'paid', paidAt: 'x' }, /paidAt/],
    ['a reserved entry with a paidAt', { paidAt: String(PAID) }, /paidAt/],
    ['an expired entry with a paidAt', { status: 'expired', paidAt: String(PAID) }, /paidAt/],
  ]
  for (const [what, over, why] of cases) {
    const r = orderFromEntry('s1', flat(fields(over)))
    t.type(r, 'string', `${what} is refused`)
    t.match(r, why, `${what}: the sentence names the field`)
  }
})

t.test('an entry with no fields at all is refused, not thrown on', async (t) => {
  t.type(orderFromEntry('s1', []), 'string')
})

t.test('a trailing field without a value is ignored', async (t) => {
  const o = orderFromEntry('s1', [...flat(fields()), 'dangling'])
  t.match(o, { orderId: 's1.AAAAAAAAAAAAAAAA', status: 'reserved' })
})

const BOB: StoredOrder = {
  userId: 'bob',
  quantity: 3,
  status: 'reserved',
  idempotencyKey: '',
  createdAt: CREATED,
  expiresAt: EXPIRES,
  paidAt: null,
}

t.test(
  'an order in the orders hash is one line: status letter, quantity, times, ids',
  async (t) => {
    const rows: [string, StoredOrder, string][] = [
      ['reserved, no key', BOB, 'r3,1700000000000,300000,,3:bob'],
      [
        'paid, with a key: paidAt in ms after createdAt',
        { ...BOB, quantity: 1, status: 'paid', idempotencyKey: 'k-1', paidAt: PAID },
        'p1,1700000000000,300000,42123,3:bobk-1',
      ],
      ['cancelled', { ...BOB, status: 'cancelled' }, 'c3,1700000000000,300000,,3:bob'],
      ['expired', { ...BOB, status: 'expired' }, 'e3,1700000000000,300000,,3:bob'],
      ['an anonymous buyer without a key', { ...BOB, userId: '' }, 'r3,1700000000000,300000,,0:'],
      [
        'an anonymous buyer with a key',
        { ...BOB, userId: '', idempotencyKey: '7:x' },
        'r3,1700000000000,300000,,0:7:x',
      ],
      [
        'a user id of separators and digits: its byte length tells where the key starts',
        { ...BOB, userId: '12:a,b', idempotencyKey: '3:k,' },
        'r3,1700000000000,300000,,6:12:a,b3:k,',
      ],
      [
        'a user id of multi-byte characters: its length is in UTF-8 bytes, as Lua counts',
        { ...BOB, userId: 'ü😀', idempotencyKey: '😀' },
        'r3,1700000000000,300000,,6:ü😀😀',
      ],
      [
        'times before createdAt (restored from PostgreSQL as they were): negative offsets',
        { ...BOB, status: 'paid', expiresAt: CREATED - 5, paidAt: CREATED - 7 },
        'p3,1700000000000,-5,-7,3:bob',
      ],
      [
        'a time of 16 digits stays exact',
        { ...BOB, createdAt: 1e15, expiresAt: 1e15 + 1 },
        'r3,1000000000000000,1,,3:bob',
      ],
    ]
    for (const [what, o, value] of rows) {
      t.equal(encodeStoredOrder(o), value, `${what}: encoded`)
      t.same(decodeStoredOrder(value), o, `${what}: decoded`)
    }
  },
)

t.test('orderFromHash gives the order its id and sale', async (t) => {
  t.same(orderFromHash('s1.X', 's1', 'p1,1700000000000,300000,42123,3:bobk'), {
    ...BOB,
    orderId: 's1.X',
    saleId: 's1',
    quantity: 1,
    status: 'paid',
    idempotencyKey: 'k',
    paidAt: PAID,
  })
})

t.test('a value that is not an order record throws, naming the value', async (t) => {
  const bad = [
    '',
    'x',
    'x3,1700000000000,300000,,3:bob',
    'R3,1700000000000,300000,,3:bob',
    'r,1700000000000,300000,,3:bob',
    'r3,1700000000000,300000,,bob',
    'r3,1700000000000,300000,3:bob',
    'r3,1700000000000,300000,,4:bob',
    ' r3,1700000000000,300000,,3:bob',
  ]
  for (const value of bad) {
    t.throws(
      () => decodeStoredOrder(value),
      /not an order of the orders hash/,
      JSON.stringify(value),
    )
  }
})

t.test(
  'the JSON the scripts wrote before the record still reads: empty paidAt is null',
  async (t) => {
    const json = JSON.stringify({
      userId: 'bob',
      quantity: 3,
      createdAt: CREATED,
      expiresAt: EXPIRES,
      idempotencyKey: '',
      status: 'reserved',
      paidAt: '',
    })
    t.same(orderFromHash('s1.X', 's1', json), {
      orderId: 's1.X',
      saleId: 's1',
      userId: 'bob',
      quantity: 3,
      status: 'reserved',
      idempotencyKey: '',
      createdAt: CREATED,
      expiresAt: EXPIRES,
      paidAt: null,
    })
  },
)

t.test('the old JSON of a paid order reads with its paidAt', async (t) => {
  const json = JSON.stringify({
    userId: 'bob',
    quantity: 1,
    createdAt: CREATED,
    expiresAt: EXPIRES,
    idempotencyKey: 'k',
    status: 'paid',
    paidAt: PAID,
  })
  t.match(orderFromHash('s1.X', 's1', json), { status: 'paid', paidAt: PAID, idempotencyKey: 'k' })
})

t.test('an old JSON order without status or paidAt is a reserved one', async (t) => {
  const json = JSON.stringify({
    userId: 'bob',
    quantity: 1,
    createdAt: CREATED,
    expiresAt: EXPIRES,
    idempotencyKey: '',
  })
  t.match(orderFromHash('s1.X', 's1', json), { status: 'reserved', paidAt: null })
})

t.test('only reserved is not final, and only reserved and paid are live', async (t) => {
  t.same(
    (['reserved', 'paid', 'expired', 'cancelled'] as const).map((s) => [s, isFinal(s), isLive(s)]),
    [
      ['reserved', false, true],
      ['paid', true, true],
      ['expired', true, false],
      ['cancelled', true, false],
    ],
  )
})

t.test('collapse keeps one record per id, in first-seen order, with the final state', async (t) => {
  const out = collapse([
    record('a', 'reserved'),
    record('b', 'reserved'),
    record('c', 'reserved'),
    record('a', 'paid', PAID),
    record('c', 'expired'),
  ])
  t.same(
    out.map((o) => [o.orderId, o.status, o.paidAt]),
    [
      ['a', 'paid', PAID],
      ['b', 'reserved', null],
      ['c', 'expired', null],
    ],
  )
})

t.test('collapse keeps the final state when a re-sent creation comes after it', async (t) => {
  const out = collapse([record('a', 'cancelled'), record('a', 'reserved')])
  t.same(
    out.map((o) => [o.orderId, o.status]),
    [['a', 'cancelled']],
  )
})

t.test('collapse keeps the first of two final states of one id', async (t) => {
  const out = collapse([record('a', 'reserved'), record('a', 'paid', PAID), record('a', 'expired')])
  t.same(
    out.map((o) => [o.orderId, o.status]),
    [['a', 'paid']],
  )
})

t.test(
  'collapse of a duplicated creation keeps one record, and of nothing is nothing',
  async (t) => {
    t.equal(collapse([record('a', 'reserved'), record('a', 'reserved')]).length, 1)
    t.same(collapse([]), [])
  },
)

t.test('orderView shows exactly the API fields, with ISO times and paidAt null', async (t) => {
  const v = orderView(record('s1.X', 'reserved'))
  t.same(v, {
    orderId: 's1.X',
    saleId: 's1',
    userId: 'user-of-s1.X',
    quantity: 1,
    status: 'reserved',
    createdAt: new Date(CREATED).toISOString(),
    expiresAt: new Date(EXPIRES).toISOString(),
    paidAt: null,
  })
  t.equal(v.createdAt, '2023-11-14T22:13:20.000Z', 'times are ISO 8601 in UTC with milliseconds')
  t.notOk('idempotencyKey' in v, 'the idempotency key is not shown')
})

t.test('orderView shows paidAt of a paid order as an ISO time', async (t) => {
  const v = orderView(record('s1.X', 'paid', PAID))
  t.equal(v.paidAt, '2023-11-14T22:14:02.123Z')
  t.equal(v.status, 'paid')
})
