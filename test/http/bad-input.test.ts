import t from 'tap'
import { checkBadInput } from '../helpers/bad-input'
import { startInProcess } from '../helpers/in-process'

/** The bad-input table of API.md against one worker in this process (the fake primary). */
t.test(
  'a worker in process answers bad input with the 4xx of the contract, changing nothing',
  async (t) => {
    const w = await startInProcess(t)
    await w.sale('calm', { stock: 10, perUserLimit: 2 })
    await checkBadInput(t, w)

    const st = await w.state('calm')
    t.equal(st.sold, 0, 'nothing sold')
    t.equal(st.stock, 10, 'the stock did not change')
    t.equal(st.orders, 0, 'no order made')
    t.same(st.users, {}, 'no user charged')
    t.equal(await w.redis.exists(`${w.prefix}{x}:sale`), 0, 'no sale created by a refused request')
    t.notOk(
      w.sent.some((m) => m.t === 'need' && m.saleId === 'x'),
      'no quota asked for a sale that was refused',
    )
    const good = await w.http.request('POST', '/api/v1/sales/calm/orders', { userId: 'a' })
    t.equal(good.status, 201, 'the worker still sells after all that')
    t.equal((await w.state('calm')).sold, 1, 'and Redis counts that one sale')
  },
)
