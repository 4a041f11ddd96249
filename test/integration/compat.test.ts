import t from 'tap'
import { startServer } from '../helpers/server'

const REFUSED = '{"code":-1,"msg":"已售罄"}'
const WON = /^\{"code":1,"msg":"抢票成功","data":\{"orderId":"ticket\.[A-Za-z0-9_-]{16}"\}\}$/

t.test('/buy/ticket answers the Go reference JSON, always with HTTP 200', async (t) => {
  const srv = await startServer(t, { workers: 2 })

  const none = await srv.http.request('GET', '/buy/ticket')
  t.equal(none.status, 200)
  t.equal(none.text, REFUSED, 'no sale at all: refused in the reference shape')

  await srv.sale('ticket', { stock: 3, perUserLimit: 1 }, false)
  const early = await srv.http.request('GET', '/buy/ticket')
  t.equal(early.status, 200)
  t.equal(early.text, REFUSED, 'before the start: refused')

  await srv.admin('POST', '/api/v1/sales/ticket/start')
  const anon = await srv.http.request('GET', '/buy/ticket')
  t.equal(anon.status, 200)
  t.match(anon.text, WON, 'anonymous GET wins, byte-exact body')
  t.equal(anon.headers['content-type'], 'application/json; charset=utf-8')

  const byQuery = await srv.http.request('POST', '/buy/ticket?user=bob')
  t.match(byQuery.text, WON, 'POST with ?user= wins')
  const bobAgain = await srv.http.request('GET', '/buy/ticket', undefined, { 'x-user-id': 'bob' })
  t.equal(bobAgain.status, 200)
  t.equal(bobAgain.text, REFUSED, 'the same user through X-User-Id is over the limit: refused')

  const last = await srv.http.request('GET', '/buy/ticket?user=carol')
  t.match(last.text, WON, 'the last unit')
  const after = await srv.http.request('GET', '/buy/ticket?user=dave')
  t.equal(after.status, 200)
  t.equal(after.text, REFUSED, 'sold out: refused')

  const st = await srv.state('ticket')
  t.equal(st.sold, 3)
  t.equal(st.orders, 3)
  t.same(st.users, { bob: '1', carol: '1' }, 'anonymous buyers are not counted per user')
})
