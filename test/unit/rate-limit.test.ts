import t from 'tap'
import { RateBoard } from '../../cluster/rate-board'
import { RateLimiter } from '../../src/http/rate-limit'
import type { ToPrimary, ToWorker } from '../../src/ipc'

/**
 * Node-wide rate limits without a per-request IPC or Redis call: each worker counts locally per
 * one-second window and enforces the full limit itself; every tick it reports the counts of the
 * keys it saw in that tick to the primary's board, which sums them and tells every worker which
 * keys are over for the rest of the window. Pure: a fake clock, no timers, no IPC.
 */

type Report = Extract<ToPrimary, { t: 'rate' }>
type Over = Extract<ToWorker, { t: 'rate-over' }>

function limiter(perSecond: number, clock: { ms: number }, reports: Report[] = []) {
  return new RateLimiter({
    kind: 'user',
    perSecond,
    report: (m) => reports.push(m),
    now: () => clock.ms,
  })
}

t.test('a worker enforces the full limit on its own count, per key', async (t) => {
  const clock = { ms: 10_000_100 }
  const l = limiter(3, clock)
  t.same(
    [1, 2, 3, 4, 5].map(() => l.over('a')),
    [false, false, false, true, true],
    'the 4th and 5th request of a in the window are over',
  )
  t.equal(l.over('b'), false, 'another key has its own count')
})

t.test('the count starts again in the next one-second window', async (t) => {
  const clock = { ms: 10_000_100 }
  const l = limiter(1, clock)
  t.equal(l.over('a'), false)
  t.equal(l.over('a'), true)
  clock.ms = 10_001_000
  t.equal(l.over('a'), false, 'a new window (wall-clock second) forgets the old counts')
})

t.test('a tick reports only the keys seen since the last tick, with their counts', async (t) => {
  const clock = { ms: 10_000_100 }
  const reports: Report[] = []
  const l = limiter(100, clock, reports)
  l.over('a')
  l.over('a')
  l.over('b')
  l.tick()
  t.same(reports, [{ t: 'rate', kind: 'user', window: 10_000, keys: ['a', 'b'], counts: [2, 1] }])
  l.over('b')
  l.tick()
  t.same(reports[1], { t: 'rate', kind: 'user', window: 10_000, keys: ['b'], counts: [1] })
  l.tick()
  t.equal(reports.length, 2, 'nothing seen, nothing sent')
})

t.test('keys the board says are over are refused until the window ends', async (t) => {
  const clock = { ms: 10_000_100 }
  const l = limiter(100, clock)
  t.equal(l.over('a'), false)
  l.block(10_000, ['a', 'never-seen'])
  t.equal(l.over('a'), true, 'a is refused though this worker saw it once')
  t.equal(l.over('never-seen'), true, 'a key this worker never saw is refused too')
  t.equal(l.over('b'), false)
  l.block(9_999, ['b'])
  t.equal(l.over('b'), false, 'an over-list for an earlier window is ignored')
  clock.ms = 10_001_000
  t.equal(l.over('a'), false, 'the next window starts clean')
})

t.test('an over-list for a window the worker has not reached yet starts it', async (t) => {
  const clock = { ms: 10_000_999 }
  const l = limiter(100, clock)
  l.over('a')
  l.block(10_001, ['a'])
  clock.ms = 10_001_001
  t.equal(l.over('a'), true)
})

t.test('memory is one window of keys: a million keys are dropped at the next window', async (t) => {
  const clock = { ms: 10_000_000 }
  const reports: Report[] = []
  const l = limiter(5, clock, reports)
  for (let i = 0; i < 1_000_000; i++) l.over(`u${i}`)
  t.equal(l.size, 1_000_000)
  clock.ms = 10_001_000
  l.tick()
  t.equal(l.size, 0, 'the new window holds nothing')
  t.equal(reports.length, 0, 'counts of a finished window are not sent')
})

t.test('a limit of 0 is off: nothing counted, nothing refused', async (t) => {
  const clock = { ms: 10_000_000 }
  const l = limiter(0, clock)
  for (let i = 0; i < 10; i++) t.equal(l.over('a'), false)
  t.equal(l.size, 0)
  t.equal(l.enabled, false)
})

t.test('an empty key (an anonymous buyer) is never limited', async (t) => {
  const l = limiter(1, { ms: 10_000_000 })
  t.equal(l.over(''), false)
  t.equal(l.over(''), false)
})

function board(limits = { user: 5, ip: 0 }) {
  const sent: Over[] = []
  const b = new RateBoard(limits, (m) => sent.push(m))
  const report = (kind: 'user' | 'ip', window: number, keys: string[], counts: number[]) =>
    b.report({ t: 'rate', kind, window, keys, counts })
  return { b, sent, report }
}

t.test('the board sums the workers and names each key once when it goes over', async (t) => {
  const { sent, report } = board()
  report('user', 100, ['a', 'b'], [3, 1])
  t.same(sent, [], 'a has 3 of 5: not over')
  report('user', 100, ['a'], [2])
  t.same(sent, [], 'a has 5 of 5: at the limit, not over')
  report('user', 100, ['a', 'b'], [1, 1])
  t.same(sent, [{ t: 'rate-over', kind: 'user', window: 100, keys: ['a'] }], 'a has 6: over')
  report('user', 100, ['a'], [4])
  t.equal(sent.length, 1, 'a key already over is not broadcast again')
})

t.test('the board starts each window afresh and ignores late reports', async (t) => {
  const { sent, report, b } = board()
  report('user', 100, ['a'], [5])
  report('user', 101, ['a'], [5])
  t.same(sent, [], 'each window counts 5: never over')
  report('user', 100, ['a'], [50])
  t.same(sent, [], 'a report for an earlier window changes nothing')
  t.equal(b.size, 1, 'only the current window is kept')
})

t.test('the board keeps user and ip apart, and a kind whose limit is 0 is ignored', async (t) => {
  const { sent, report, b } = board({ user: 2, ip: 3 })
  report('user', 7, ['x'], [3])
  report('ip', 7, ['x'], [3])
  t.same(sent, [{ t: 'rate-over', kind: 'user', window: 7, keys: ['x'] }])
  report('ip', 7, ['x'], [1])
  t.same(sent[1], { t: 'rate-over', kind: 'ip', window: 7, keys: ['x'] })
  const off = board({ user: 0, ip: 1 })
  off.report('user', 7, ['x'], [100])
  t.same(off.sent, [])
  t.equal(off.b.size, 0)
  t.equal(b.size, 2)
})
