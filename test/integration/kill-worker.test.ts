import t from 'tap'
import { startServer } from '../helpers/server'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

t.test(
  'a worker killed with SIGKILL mid-sale is replaced, and the sale still sells every unit, no more',
  async (t) => {
    const srv = await startServer(t, { workers: 2 })
    const STOCK = 400
    await srv.sale('crash', { stock: STOCK, perUserLimit: 1 })
    const before = srv.workers()
    t.equal(before.length, 2, 'two workers to start with')

    let wins = 0
    let lost = 0
    let next = 0
    let done = false
    const deadline = Date.now() + 30000
    // Buyers keep asking (each a new user) until Redis says every unit is sold, or time is up.
    const buyers = Array.from({ length: 48 }, async () => {
      while (!done && Date.now() < deadline) {
        const r = await srv.http.request('POST', '/api/v1/sales/crash/orders', {
          userId: `b${next++}`,
        })
        if (r.status === 201) wins++
        else if (r.status === 0) lost++
        else if (r.status === 409 && r.json.error === 'sold_out') await sleep(5)
      }
    })
    const watcher = (async () => {
      let killed = false
      while (!done && Date.now() < deadline) {
        const st = await srv.state('crash')
        if (!killed && st.sold >= STOCK / 4) {
          process.kill(before[0]!, 'SIGKILL')
          killed = true
        }
        if (st.sold >= STOCK) done = true
        await sleep(20)
      }
      done = true
      return killed
    })()
    const killed = await watcher
    await Promise.all(buyers)

    t.ok(killed, 'a worker was killed while the sale was running')
    const st = await srv.state('crash')
    t.equal(st.sold, STOCK, 'every unit sold: the dead worker held no quota hostage')
    t.equal(st.orders, STOCK, 'one order per unit: no oversell')
    t.ok(
      Object.values(st.users).every((n) => n === '1'),
      'no user over the limit',
    )
    t.ok(wins <= STOCK, `clients told they won (${wins}) never exceed the stock`)
    t.ok(
      wins + lost >= STOCK,
      `every sold unit was answered or lost with the killed worker (${wins} won, ${lost} cut off)`,
    )

    for (let i = 0; i < 100 && srv.workers().length < 2; i++) await sleep(50)
    const after = srv.workers()
    t.equal(after.length, 2, 'the primary replaced the dead worker')
    t.notOk(after.includes(before[0]!), 'the dead pid is gone')
    const health = await srv.http.request('GET', '/healthz')
    t.equal(health.status, 200)
    // What the primary and its workers said, when something above went wrong.
    if (!t.passing()) t.comment(srv.output())
  },
)
