import t from 'tap'
import { type SaleRecord, saleGate, saleState } from '../../src/sale/sale-record'

const base: SaleRecord = {
  id: 's',
  name: 'n',
  stock: 10,
  sold: 0,
  perUserLimit: 1,
  startsAt: null,
  endsAt: null,
  paymentTtlSeconds: 300,
  started: false,
  closed: false,
  returned: 0,
  createdAt: 0,
}

t.test('a sale with no start time stays scheduled until started by hand', async (t) => {
  t.equal(saleState(base, 1e12), 'scheduled')
  t.equal(saleState({ ...base, started: true }, 1e12), 'open')
})

t.test('a sale opens at startsAt and closes at endsAt, by the clock given', async (t) => {
  const s = { ...base, startsAt: 1000, endsAt: 2000 }
  t.equal(saleGate(s, 999), 'not_started')
  t.equal(saleGate(s, 1000), 'open')
  t.equal(saleGate(s, 1999), 'open')
  t.equal(saleGate(s, 2000), 'closed')
})

t.test('closing wins over the start flag, and sold out shows only while open', async (t) => {
  t.equal(saleState({ ...base, started: true, closed: true }, 0), 'closed')
  t.equal(saleState({ ...base, started: true, sold: 10 }, 0), 'sold_out')
  t.equal(saleState({ ...base, started: true, sold: 10, closed: true }, 0), 'closed')
})
