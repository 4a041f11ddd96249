import t from 'tap'
import { waitFor } from '../helpers/pg'
import { startServer } from '../helpers/server'

/**
 * PM2's max_memory_restart: a worker whose RSS passes MAX_WORKER_RSS_MB is replaced the way a
 * reload replaces one (the new worker listens before the old one drains), under load, with no
 * request failing. A limit of 1 MB puts every worker over it from its first report, so each is
 * replaced as soon as it is old enough (5 s), one at a time.
 */
t.test(
  'workers over MAX_WORKER_RSS_MB are replaced under load without a failed request',
  async (t) => {
    const srv = await startServer(t, { workers: 2, env: { MAX_WORKER_RSS_MB: '1' } })
    await srv.sale('rss', { stock: 1_000_000, perUserLimit: 1 })
    const first = srv.workers()
    const statuses: Record<number, number> = {}
    let next = 0
    let running = true
    const buyers = Array.from({ length: 20 }, async () => {
      while (running) {
        const r = await srv.http.request('POST', '/api/v1/sales/rss/orders', {
          userId: `r${next++}`,
        })
        statuses[r.status] = (statuses[r.status] ?? 0) + 1
      }
    })
    const replaced = async () => {
      const m = await srv.http.request('GET', '/metrics')
      return Number(/seckill_workers_replaced_total\{reason="rss"\} (\d+)/.exec(m.text)?.[1] ?? 0)
    }
    await waitFor('two workers recycled', async () => (await replaced()) >= 2, 40_000)
    running = false
    await Promise.all(buyers)

    t.ok((await replaced()) >= 2, 'counted in seckill_workers_replaced_total{reason="rss"}')
    t.same(
      Object.keys(statuses),
      ['201'],
      `every attempt answered 201 (${JSON.stringify(statuses)})`,
    )
    // Every worker stays over the limit, so a third replacement may be under way (its new worker
    // forked, the old one not yet gone): wait for the count to settle rather than catch it.
    await waitFor('the node back to two workers', async () => srv.workers().length === 2, 20_000)
    const now = srv.workers()
    t.equal(now.length, 2, 'still two workers')
    t.ok(
      first.some((pid) => !now.includes(pid)),
      'a first worker was replaced',
    )
    t.match(srv.output(), /worker over MAX_WORKER_RSS_MB; replacing it/)
    t.notMatch(srv.output(), /worker died/, 'replaced, not crashed')
  },
)
