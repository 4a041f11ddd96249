import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { runOpenLoop } from '../../bench/load/open-loop'

/**
 * The fixed-rate generator over real sockets against a small node:http server. The point of it
 * is the coordinated-omission correction: one stall of the server must show in the latency of
 * every request that was due during the stall, not only in the one that was being served.
 */
function serve(
  stallOn: number,
  stallMs: number,
): Promise<{ server: Server; origin: string; seen: () => number }> {
  let n = 0
  const server = createServer((req, res) => {
    const i = n++
    const answer = () =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"code":1,"data":1}')
    if (i === stallOn) setTimeout(answer, stallMs)
    else answer()
    req.resume()
  })
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      resolve({ server, origin: `http://127.0.0.1:${port}`, seen: () => n })
    }),
  )
}

t.test('sends rate x duration requests and counts every answer', async (t) => {
  const s = await serve(-1, 0)
  t.teardown(() => s.server.close())
  const r = await runOpenLoop({
    origin: s.origin,
    method: 'GET',
    path: '/',
    connections: 4,
    duration: 1,
    rate: 400,
    label: 't',
  })
  t.equal(r.requests, 400)
  t.equal(s.seen(), 400, 'the server saw exactly those')
  t.same(r.statuses, { '200': 400 })
  t.equal(r.wins, 400)
  t.equal(r.errors, 0)
  t.ok(
    r.latency.p50 >= r.serviceLatency.p50 && r.latency.p99 >= r.serviceLatency.p99,
    'latency from the intended send time is never below the service time',
  )
  // The schedule spreads 400 requests over one second; a burst would end far sooner.
  t.ok(r.seconds > 0.9 && r.seconds < 1.5, `took ${r.seconds} s`)
})

t.test(
  'a stall of the server shows in the requests due during it (coordinated omission)',
  async (t) => {
    // One connection, 200 requests/s: a 500 ms stall holds back the ~100 requests due meanwhile.
    const s = await serve(50, 500)
    t.teardown(() => s.server.close())
    const r = await runOpenLoop({
      origin: s.origin,
      method: 'GET',
      path: '/',
      connections: 1,
      duration: 2,
      rate: 200,
      label: 't',
    })
    t.equal(r.requests, 400)
    t.ok(r.latency.max >= 450, `the stalled request: max ${r.latency.max} ms`)
    // A quarter of the requests were due during the stall and waited for it: p90 is far above the
    // normal sub-millisecond answer, while their own service time (after the socket was free) is not.
    t.ok(r.latency.p90 >= 100, `corrected p90 ${r.latency.p90} ms`)
    t.ok(r.serviceLatency.p90 < 100, `service p90 ${r.serviceLatency.p90} ms`)
  },
)

t.test('distinct users: every request carries its own id', async (t) => {
  const ids = new Set<string>()
  const server = createServer((req, res) => {
    ids.add(new URL(req.url ?? '/', 'http://x').searchParams.get('user') ?? '')
    res.end('{}')
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => server.close())
  const { port } = server.address() as AddressInfo
  const r = await runOpenLoop({
    origin: `http://127.0.0.1:${port}`,
    method: 'GET',
    path: '/buy?user=u[<id>]',
    distinctUsers: true,
    connections: 2,
    duration: 1,
    rate: 100,
    label: 't',
  })
  t.equal(r.requests, 100)
  t.equal(ids.size, 100)
  t.ok(ids.has('u0') && ids.has('u99'))
})
