import t from 'tap'
import { type SaleArgs, saleRequest, UsageError } from '../../src/cli/sale-command'

const args = (o: Partial<SaleArgs>): SaleArgs => ({
  action: undefined,
  id: undefined,
  json: false,
  ...o,
})

t.test('create sends the sale as API.md has it, numbers as numbers', async (t) => {
  t.same(
    saleRequest(
      args({
        action: 'create',
        id: 'phone',
        stock: '100',
        name: 'A phone',
        perUserLimit: '2',
        paymentTtl: '60',
        startsAt: '2026-12-24T10:00:00Z',
      }),
    ),
    {
      method: 'POST',
      path: '/api/v1/sales',
      body: {
        id: 'phone',
        name: 'A phone',
        stock: 100,
        perUserLimit: 2,
        paymentTtlSeconds: 60,
        startsAt: '2026-12-24T10:00:00Z',
      },
    },
  )
  t.same(
    saleRequest(args({ action: 'create', id: 'x', stock: '1' })).body,
    {
      id: 'x',
      name: 'x',
      stock: 1,
    },
    'the name defaults to the id; the API fills in the rest',
  )
})

t.test('start, close and show name the sale in the path, escaped', async (t) => {
  t.same(saleRequest(args({ action: 'start', id: 'a b' })), {
    method: 'POST',
    path: '/api/v1/sales/a%20b/start',
  })
  t.same(saleRequest(args({ action: 'close', id: 'x' })), {
    method: 'POST',
    path: '/api/v1/sales/x/close',
  })
  t.same(saleRequest(args({ action: 'show', id: 'x' })), { method: 'GET', path: '/api/v1/sales/x' })
})

t.test('stock sends exactly one of add and remove, as a number, to the stock route', async (t) => {
  t.same(saleRequest(args({ action: 'stock', id: 'phone', add: '100' })), {
    method: 'POST',
    path: '/api/v1/sales/phone/stock',
    body: { add: 100 },
  })
  t.same(saleRequest(args({ action: 'stock', id: 'a b', remove: '5' })), {
    method: 'POST',
    path: '/api/v1/sales/a%20b/stock',
    body: { remove: 5 },
  })
})

t.test('bad usage is refused before anything is sent', async (t) => {
  t.throws(() => saleRequest(args({})), /takes one of create, start, close, stock, show/)
  try {
    saleRequest(args({}))
  } catch (err) {
    t.ok(err instanceof UsageError, 'a usage error: exit 2')
  }
  t.throws(() => saleRequest(args({ action: 'drop', id: 'x' })), /not "drop"/)
  t.throws(() => saleRequest(args({ action: 'start' })), /needs a sale id/)
  t.throws(() => saleRequest(args({ action: 'create', id: 'x' })), /needs --stock N/)
  t.throws(() => saleRequest(args({ action: 'create', id: 'x', stock: '-1' })), /whole number/)
  t.throws(
    () => saleRequest(args({ action: 'create', id: 'x', stock: '5', perUserLimit: '1.5' })),
    /--per-user-limit/,
  )
  const stock = (o: Partial<SaleArgs>) => () =>
    saleRequest(args({ action: 'stock', id: 'x', ...o }))
  t.throws(stock({}), /needs one of --add N and --remove N/, 'stock without a change')
  t.throws(stock({ add: '1', remove: '1' }), /needs one of --add N and --remove N/, 'both')
  t.throws(stock({ add: 'ten' }), /--add takes a whole number, not "ten"/)
  t.throws(stock({ remove: '-3' }), /--remove takes a whole number/)
  t.throws(() => saleRequest(args({ action: 'stock', add: '1' })), /needs a sale id/)
  try {
    stock({})()
  } catch (err) {
    t.ok(err instanceof UsageError, 'a usage error: exit 2')
  }
})
