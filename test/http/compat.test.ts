import t from 'tap'
import { startInProcess } from '../helpers/in-process'

const REFUSED = '{"code":-1,"msg":"已售罄"}'
const WON = /^\{"code":1,"msg":"抢票成功","data":\{"orderId":"ticket\.[A-Za-z0-9_-]{16}"\}\}$/

t.test('/buy/ticket in process: the reference JSON, HTTP 200, the per-user limit', async (t) => {
  const w = await startInProcess(t)
  const buy = (q = '', headers?: Record<string, string>) =>
    w.http.request('GET', `/buy/ticket${q}`, undefined, headers)

  t.equal((await buy()).text, REFUSED, 'no sale at all: refused in the reference shape')
  await w.sale('ticket', { stock: 3, perUserLimit: 1 }, false)
  const early = await buy()
  t.equal(early.status, 200)
  t.equal(early.text, REFUSED, 'before the start: refused')

  await w.admin('POST', '/api/v1/sales/ticket/start')
  const anon = await buy()
  t.equal(anon.status, 200)
  t.match(anon.text, WON, 'anonymous GET wins, byte-exact body')
  t.equal(anon.headers['content-type'], 'application/json; charset=utf-8')
  t.match((await w.http.request('POST', '/buy/ticket?user=bob')).text, WON, 'POST ?user= wins')
  t.equal((await buy('', { 'x-user-id': 'bob' })).text, REFUSED, 'bob again: over the limit')
  t.match((await buy('?user=carol')).text, WON, 'the last unit')
  t.equal((await buy('?user=dave')).text, REFUSED, 'sold out: refused')
  t.equal((await buy('?user=%01')).text, REFUSED, 'a control character in the user id: refused')

  const st = await w.state('ticket')
  t.equal(st.sold, 3)
  t.equal(st.orders, 3)
  t.same(st.users, { bob: '1', carol: '1' }, 'anonymous buyers are not counted per user')
})

t.test('HEAD /buy/ticket buys nothing', async (t) => {
  const w = await startInProcess(t)
  await w.sale('ticket', { stock: 1 })
  const head = await w.http.request('HEAD', '/buy/ticket')
  t.equal(head.status, 200)
  t.equal(head.text, '', 'no body')
  t.equal((await w.state('ticket')).sold, 0, 'nothing sold by a HEAD')
  t.match((await w.http.request('GET', '/buy/ticket')).text, WON, 'the unit is still there')
})
