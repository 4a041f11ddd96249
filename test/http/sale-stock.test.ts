import t from 'tap'
import { startInProcess } from '../helpers/in-process'
import { ownRedis } from '../helpers/own-redis'
import { waitFor } from '../helpers/pg'

/**
 * POST /api/v1/sales/:id/stock (API.md "Sales") against one worker in this process, the real
 * Redis deciding: what each outcome answers, and that the worker that took the call sells the
 * new units at once. Bad bodies and missing tokens are in the shared bad-input table
 * (test/helpers/bad-input.ts) and test/http/admin-auth.test.ts.
 */

t.test(
  'a top-up of a sold-out sale answers the new stock and the worker sells again',
  async (t) => {
    const w = await startInProcess(t)
    await w.sale('refill', { stock: 2 })
    for (const user of ['a', 'b']) {
      const r = await w.http.request('POST', '/api/v1/sales/refill/orders', { userId: user })
      t.equal(r.status, 201, `${user} buys one of the 2 units`)
    }
    const late = await w.http.request('POST', '/api/v1/sales/refill/orders', { userId: 'c' })
    t.equal(late.json?.error, 'sold_out', 'the sale is sold out')
    const refused = await w.http.request('POST', '/api/v1/sales/refill/orders', { userId: 'c' })
    t.equal(refused.json?.error, 'sold_out', 'and the worker refuses from memory')

    const r = await w.admin('POST', '/api/v1/sales/refill/stock', { add: 3 })
    t.equal(r.status, 200)
    t.match(r.json, { id: 'refill', state: 'open', stock: 5, sold: 2, remaining: 3 })
    t.ok(
      w.sent.some((m) => m.t === 'changed' && m.saleId === 'refill'),
      'the worker told its primary the sale changed',
    )
    const again = await w.http.request('POST', '/api/v1/sales/refill/orders', { userId: 'c' })
    t.equal(again.status, 201, 'a buyer gets one of the new units right after the answer')
    const st = await w.state('refill')
    t.equal(st.stock, 5, 'Redis holds the new stock')
    t.equal(st.sold, 3, 'and three units sold')
  },
)

t.test('remove takes unsold units away, down to exactly what is sold', async (t) => {
  const w = await startInProcess(t)
  await w.sale('trim', { stock: 10 })
  for (const user of ['a', 'b', 'c', 'd']) {
    await w.http.request('POST', '/api/v1/sales/trim/orders', { userId: user })
  }
  const r = await w.admin('POST', '/api/v1/sales/trim/stock', { remove: 5 })
  t.equal(r.status, 200)
  t.match(r.json, { stock: 5, sold: 4, remaining: 1, state: 'open' })

  const over = await w.admin('POST', '/api/v1/sales/trim/stock', { remove: 2 })
  t.equal(over.status, 409)
  t.equal(over.json.error, 'stock_conflict')
  t.match(over.json.detail, /at most 1 can be removed/, 'the detail says how many could go')
  t.equal((await w.state('trim')).stock, 5, 'a refused remove changes nothing')

  const last = await w.admin('POST', '/api/v1/sales/trim/stock', { remove: 1 })
  t.equal(last.status, 200)
  t.match(last.json, { stock: 4, sold: 4, remaining: 0, state: 'sold_out' })
  const buy = await w.http.request('POST', '/api/v1/sales/trim/orders', { userId: 'e' })
  t.equal(buy.json?.error, 'sold_out', 'no unit is left to sell')
  t.equal((await w.state('trim')).sold, 4, 'nothing sold past the new stock')
})

t.test('each refusal of the script has its own answer, and changes nothing', async (t) => {
  const w = await startInProcess(t)
  await w.sale('big', { stock: 999_999_990 }, false)
  await w.sale('shut', { stock: 5 })
  await w.admin('POST', '/api/v1/sales/shut/close')
  // A restore that has written its first chunk only: the sale's stock is still in restoreStock.
  await w.redis.hset(`${w.prefix}{halfway}:sale`, {
    name: 'halfway',
    restoreStock: '10',
    sold: '0',
    restoredBy: 'run-1',
  })

  const cases: [string, string, unknown, number, string, RegExp][] = [
    ['past 10^9', 'big', { add: 11 }, 409, 'stock_conflict', /at most 10 more can be added/],
    ['a closed sale', 'shut', { add: 1 }, 409, 'closed', /closed/],
    ['a sale being restored', 'halfway', { add: 1 }, 404, 'not_found', /being restored/],
    ['an unknown sale', 'nope', { add: 1 }, 404, 'not_found', /no sale nope/],
    ['an id no sale can have', 'a.b', { add: 1 }, 404, 'not_found', /no sale/],
  ]
  for (const [what, id, body, status, code, detail] of cases) {
    const r = await w.admin('POST', `/api/v1/sales/${id}/stock`, body)
    t.equal(r.status, status, `${what}: HTTP ${status}`)
    t.equal(r.json?.error, code, `${what}: ${code}`)
    t.match(r.json?.detail, detail, `${what}: says why`)
  }
  t.equal((await w.state('big')).stock, 999_999_990, 'the big sale kept its stock')
  t.equal((await w.state('shut')).stock, 5, 'the closed sale kept its stock')
  t.equal(await w.redis.hget(`${w.prefix}{halfway}:sale`, 'stock'), null, 'no stock appeared')
  t.equal(await w.redis.exists(`${w.prefix}{nope}:sale`), 0, 'no sale was created')
  const upTo = await w.admin('POST', '/api/v1/sales/big/stock', { add: 10 })
  t.equal(upTo.status, 200, 'exactly up to 10^9 is allowed')
  t.equal(upTo.json.stock, 1e9)
})

t.test('a Redis that hangs or is down answers 503 outcome_unknown or unavailable', async (t) => {
  const redis = await ownRedis(t)
  // LOG_LEVEL fatal: the two failures this provokes are logged at error level, by design.
  const w = await startInProcess(t, {
    REDIS_URL: redis.url,
    REDIS_TIMEOUT_MS: '300',
    LOG_LEVEL: 'fatal',
  })
  const change = () => w.admin('POST', '/api/v1/sales/any/stock', { add: 1 })

  redis.pause()
  const hung = await change()
  redis.resume()
  t.equal(hung.status, 503)
  t.equal(hung.json.error, 'outcome_unknown', 'sent and not answered: it may have happened')
  t.match(hung.json.detail, /GET \/api\/v1\/sales\/any tells/)

  await redis.kill()
  let down = await change()
  // The worker's client learns of the closed connection on its next turn; then nothing is sent.
  await waitFor('the worker to see Redis down', async () => {
    down = await change()
    return down.json?.error === 'unavailable'
  })
  t.equal(down.status, 503)
  t.equal(down.json.error, 'unavailable', 'never sent: certainly nothing happened')
  t.notMatch(down.text, /127\.0\.0\.1|ECONN/, 'no address or driver message in the answer')
})
