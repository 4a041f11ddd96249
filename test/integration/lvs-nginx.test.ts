import { createServer } from 'node:net'
import t from 'tap'
import { startNginx as startNginxFromShipped } from '../../bench/harness/nginx'
import { client } from '../helpers/http'
import { freshSchema } from '../helpers/pg'
import { type Server, startServer, type Teardown } from '../helpers/server'
import { missing } from '../helpers/tools'

/**
 * The article's experiment on the real nginx: four seckill instances (one worker each) on ports
 * 3001-3004, sharing one Redis and one PostgreSQL as four nodes would, behind lvs/nginx/nginx.conf.
 * 1,000 requests through nginx split 100/200/300/400, counted by each instance's own /metrics.
 * The config is used as shipped but for its `listen 80`, which becomes a free loopback port.
 */
const PORTS = [3001, 3002, 3003, 3004]
const WEIGHTS = [1, 2, 3, 4]
const REQUESTS = 1000
// nginx's smooth weighted round-robin is exact per worker process over every 10 requests; with
// one worker per core, each may stop mid-cycle, so an instance may be off by a few requests.
const TOLERANCE = 10

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}

/** Purchase answers an instance has given, from its own /metrics (all workers of the node). */
async function answered(srv: Server): Promise<number> {
  const text = (await srv.http.request('GET', '/metrics')).text
  let n = 0
  for (const m of text.matchAll(/^seckill_purchase_answers_total\{[^}]*\} (\d+)/gm))
    n += Number(m[1])
  return n
}

/** nginx from the shipped config, once it answers /healthz (an instance behind it is up). */
async function startNginx(t: Teardown): Promise<number> {
  const listen = await startNginxFromShipped(t)
  const probe = client(listen)
  for (let i = 0; i < 100; i++) {
    if ((await probe.request('GET', '/healthz')).status === 200) break
    await new Promise((r) => setTimeout(r, 50))
  }
  probe.close()
  return listen
}

const skip = missing('nginx')

t.test(
  'nginx splits 1,000 requests 100/200/300/400 over the four instances',
  { skip },
  async (t) => {
    for (const port of PORTS) t.ok(await portFree(port), `port ${port} is free for an instance`)
    const pg = freshSchema(t)
    const prefix = `t:nginx${process.pid}:`
    const instances: Server[] = []
    for (const port of PORTS) instances.push(await startServer(t, { port, workers: 1, prefix, pg }))
    await instances[0]!.sale('wrr', { stock: 1_000_000, perUserLimit: 1 })
    // Every instance learns the sale from Redis (SALE_POLL_MS); wait until each would sell it.
    for (const srv of instances) {
      for (let i = 0; i < 100; i++) {
        if ((await srv.http.request('GET', '/api/v1/sales/wrr')).json?.state === 'open') break
        await new Promise((r) => setTimeout(r, 50))
      }
    }

    const listen = await startNginx(t)
    const before = await Promise.all(instances.map(answered))
    const viaNginx = client(listen, 10)
    t.teardown(() => viaNginx.close())
    let next = 0
    const statuses: Record<number, number> = {}
    const wins: string[] = []
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (next < REQUESTS) {
          const r = await viaNginx.request('GET', `/buy/ticket?user=u${next++}`)
          statuses[r.status] = (statuses[r.status] ?? 0) + 1
          if (r.json?.code === 1) wins.push(r.json.data.orderId)
        }
      }),
    )
    t.same(
      statuses,
      { 200: REQUESTS },
      'every request answered 200 through nginx (HTTP/1.1 to uWS)',
    )
    t.equal(wins.length, REQUESTS, 'and each one bought a ticket')

    const after = await Promise.all(instances.map(answered))
    const counts = after.map((n, i) => n - before[i]!)
    t.equal(
      counts.reduce((a, b) => a + b, 0),
      REQUESTS,
      `the instances' own counters add up to the requests sent: ${counts.join('/')}`,
    )
    counts.forEach((n, i) => {
      const want = (REQUESTS * WEIGHTS[i]!) / 10
      t.ok(
        Math.abs(n - want) <= TOLERANCE,
        `port ${PORTS[i]} (weight ${WEIGHTS[i]}): ${n}, ${want} ± ${TOLERANCE}`,
      )
    })

    // Passive health check: with one instance gone, reads are retried on the others and nginx
    // stops sending to it; no client sees the dead instance.
    const gone = instances[3]!
    const pids = gone.workers()
    await gone.stop('SIGKILL')
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // already gone with its primary
      }
    }
    for (let i = 0; i < 100 && !(await portFree(3004)); i++)
      await new Promise((r) => setTimeout(r, 20))
    t.ok(await portFree(3004), 'nothing listens on 3004 any more')
    const reads = await Promise.all(
      Array.from({ length: 100 }, () => viaNginx.request('GET', '/api/v1/sales/wrr')),
    )
    t.same(
      reads.map((r) => r.status).filter((s) => s !== 200),
      [],
      'with port 3004 killed, 100 reads through nginx all answered 200',
    )
  },
)
