import t from 'tap'
import { renderStatus, renderViews } from '../../src/cli/status-view'
import type { NodeStatus } from '../../src/control/protocol'

const status = (redisUp: boolean): NodeStatus => ({
  node: {
    pid: 4242,
    version: '1.2.3',
    uptimeS: 7300,
    serving: true,
    host: '0.0.0.0',
    port: 3005,
    workers: 2,
    configFile: '/etc/seckill.json',
    runDir: '/var/run/seckill',
    logFile: null,
    redis: { url: 'redis://127.0.0.1:6379', reachable: redisUp },
    postgres: { schema: 'public', reachable: true },
    tcpMigrateReq: 0,
    reloading: false,
    recycled: 3,
  },
  workers: [
    {
      slot: 0,
      pid: 5001,
      uptimeS: 30,
      restarts: 1,
      rssMb: 81,
      cpuPercent: 12.5,
      requestsPerSecond: 9000,
      quota: 40,
      inflight: 3,
      parked: 0,
    },
    {
      slot: 1,
      pid: 5002,
      uptimeS: 30,
      restarts: 0,
      rssMb: 79,
      cpuPercent: 11,
      requestsPerSecond: 8700,
      quota: 38,
      inflight: 1,
      parked: 2,
    },
  ],
  sales: [
    {
      id: 'phone',
      state: 'open',
      stock: 100,
      sold: 60,
      remaining: 40,
      writerBacklog: 5,
      writerLagS: 0.2,
    },
  ],
})

t.test('the table for people names the node, each worker and each live sale', async (t) => {
  const text = renderStatus(status(true))
  t.match(text, /pid 4242, seckill 1\.2\.3, up 2h1m, serving on 0\.0\.0\.0:3005/)
  t.match(text, /redis +redis:\/\/127\.0\.0\.1:6379 reachable/)
  t.match(text, /config +\/etc\/seckill\.json/)
  t.match(text, /tcp_migrate_req=0: a reload may reset/, 'the kernel setting a reload depends on')
  t.match(text, /recycled over MAX_WORKER_RSS_MB: 3/)
  t.match(text, /^0 +5001 +30s +1 +81 +12\.5 +9000 +40 +3 +0$/m, "worker 0's row")
  t.match(text, /^1 +5002 /m, "worker 1's row")
  t.match(text, /^phone +open +100 +60 +40 +5 +0\.2$/m, "the sale's row")
})

t.test('a store that does not answer is shown loudly', async (t) => {
  t.match(renderStatus(status(false)), /redis .* NOT REACHABLE/)
})

t.test('a node with no live sale says so', async (t) => {
  t.match(renderStatus({ ...status(true), sales: [] }), /no live sales/)
})

t.test("status --sale shows each worker's copy of the sale and since when", async (t) => {
  const since = Date.UTC(2026, 11, 2, 20, 0, 0, 123)
  const out = renderViews('phone', [
    {
      slot: 0,
      pid: 5001,
      view: {
        state: 'sold_out',
        stock: 100,
        sold: 100,
        quota: 0,
        inflight: 0,
        parked: 0,
        sinceMs: since,
      },
    },
    { slot: 1, pid: 5002, view: null },
  ])
  const lines = out.trimEnd().split('\n')
  t.equal(lines[0], 'sale phone, as each worker of this node sees it')
  t.match(lines[2], /^0\s+5001\s+sold_out\s+100\s+100\s+0\s+0\s+0\s+2026-12-02T20:00:00\.123Z$/)
  t.match(lines[3], /^1\s+5002\s+no copy$/, 'a worker without a copy says so')
})
