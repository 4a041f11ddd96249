import t from 'tap'
import { WorkerBoard } from '../../cluster/worker-board'

const stats = (cpuMicros: number, requests: number, rssBytes = 80 * 2 ** 20) => ({
  rssBytes,
  cpuMicros,
  requests,
  quota: 15,
  inflight: 2,
  parked: 4,
})

t.test('a worker with one report has its counts but no rates yet', async (t) => {
  const board = new WorkerBoard()
  board.report(1, stats(500_000, 100), 1000)
  const load = board.load(1)
  t.equal(load.cpuPercent, 0)
  t.equal(load.requestsPerSecond, 0)
  t.equal(load.quota, 15, 'quota over its sales')
  t.equal(load.inflight, 2)
  t.equal(load.parked, 4)
  t.equal(load.rssBytes, 80 * 2 ** 20)
})

t.test('CPU and requests become rates over the time between the last two reports', async (t) => {
  const board = new WorkerBoard()
  board.report(1, stats(1_000_000, 1000), 10_000)
  board.report(1, stats(1_250_000, 3000), 10_500)
  board.report(1, stats(1_500_000, 5000), 11_000)
  const load = board.load(1)
  t.equal(load.cpuPercent, 50, '250 ms of CPU in 500 ms')
  t.equal(load.requestsPerSecond, 4000, '2000 requests in 500 ms')
})

t.test('a forgotten worker, or one never heard of, reports nothing', async (t) => {
  const board = new WorkerBoard()
  board.report(1, stats(1, 1), 1)
  board.forget(1)
  t.equal(board.load(1).rssBytes, 0)
  t.equal(board.load(2).quota, 0)
})
