import t from 'tap'
import { histogram, summary } from '../../bench/load/open-loop'

t.test('no latency percentile is reported above the largest latency recorded', async (t) => {
  const h = histogram()
  // 17.05 s, the Go reference's slowest answer in a 20,000 req/s run: its bucket's highest value
  // (17,055,743 µs at 3 significant digits) was reported as p99.9, above the max.
  for (let i = 0; i < 10; i++) h.recordValue(17_052_822 - i * 100)
  const l = summary(h)
  t.ok(l.p999 !== null && l.p999 <= l.max, `p99.9 ${l.p999} <= max ${l.max}`)
  t.ok(l.p50 <= l.max, `p50 ${l.p50} <= max ${l.max}`)
  t.equal(l.max, 17_052.822, 'the max is the value recorded')
  t.ok(l.p50 > 17_040, `p50 ${l.p50} still within the bucket's precision of the values`)
})
