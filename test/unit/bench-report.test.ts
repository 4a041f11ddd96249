import t from 'tap'
import { sanity } from '../../bench/checks'
import type { LoadResult } from '../../bench/load/load-spec'
import { share } from '../../bench/load/load-spec'
import { parseWrkOutput } from '../../bench/load/wrk'
import { readOptions } from '../../bench/options'
import { markdownTable, type RunReport, tableRows } from '../../bench/report/run-report'
import { plan } from '../../bench/scenarios'

/** The benchmark runner's pure parts: options, plans, wrk's output, the checks, the table. */

const knobs = {
  quick: false,
  connections: null,
  duration: null,
  rate: null,
  requests: null,
  stock: null,
}

function result(over: Partial<LoadResult> = {}): LoadResult {
  return {
    tool: 'wrk',
    requests: 10_000,
    seconds: 0.5,
    reqPerSec: 20_000,
    latency: { p50: 1, p90: 2, p99: 3, p999: 4, max: 5, mean: 1.2 },
    coCorrected: false,
    statuses: { '200': 10_000 },
    wins: 150,
    non2xx: 0,
    errors: 0,
    closes: 0,
    ...over,
  }
}

t.test(
  'the seed plan is the article experiment: 10,000 requests over 100 connections',
  async (t) => {
    const p = plan('seed', knobs)
    t.equal(p.load.amount, 10_000)
    t.equal(p.load.connections, 100)
    t.equal(p.load.path, '/buy/ticket')
    t.equal(p.stock, 150)
    t.equal(p.load.duration, undefined, 'counted, not timed')
  },
)

t.test('quick shrinks the timed scenarios and the storm, not the seed', async (t) => {
  const q = { ...knobs, quick: true }
  t.equal(plan('seed', q).load.amount, 10_000)
  t.equal(plan('refuse', q).load.duration, 2)
  t.equal(plan('refuse', knobs).load.duration, 10)
  t.equal(plan('storm', knobs).load.amount, 1_000_000)
  t.equal(plan('storm', knobs).stock, 10_000)
  t.equal(plan('storm', q).load.amount, 20_000)
  t.ok(plan('storm', q).load.distinctUsers)
  t.match(plan('storm', q).load.path, /\?user=u\[<id>\]$/)
  t.equal(plan('latency', knobs).load.rate, 5_000)
  t.equal(plan('latency', knobs).load.warmup, 2, 'a warm-up before the timed latency run')
  t.ok(plan('close', knobs).load.close)
})

t.test('command-line knobs override the plan', async (t) => {
  const o = readOptions([
    '--scenario',
    'storm',
    '--requests',
    '500',
    '--stock',
    '7',
    '--connections',
    '9',
  ])
  const p = plan('storm', o)
  t.equal(p.load.amount, 500)
  t.equal(p.stock, 7)
  t.equal(p.load.connections, 9)
})

t.test(
  'options: scenarios by list or repeated, default all, a target reduced to its origin',
  async (t) => {
    t.same(readOptions([]).scenarios, ['seed', 'refuse', 'sell', 'close', 'latency', 'storm'])
    t.equal(readOptions([]).named, false)
    const o = readOptions([
      '--scenario',
      'seed,storm',
      '--scenario',
      'seed',
      '--target',
      'http://127.0.0.1:3005/buy/ticket',
    ])
    t.same(o.scenarios, ['seed', 'storm'])
    t.equal(o.named, true)
    t.equal(o.target, 'http://127.0.0.1:3005')
    t.ok(Object.isFrozen(o))
    t.same(readOptions(['--env', 'RESERVE_MODE=piscina', '--env', 'X=a=b']).env, {
      RESERVE_MODE: 'piscina',
      X: 'a=b',
    })
  },
)

t.test('bad options are refused with a message naming the option', async (t) => {
  t.throws(() => readOptions(['--scenario', 'nope']), /--scenario: unknown "nope"/)
  t.throws(() => readOptions(['--workers', '0']), /--workers must be between 1 and 64/)
  t.throws(() => readOptions(['--duration', '1.5']), /--duration must be a whole number/)
  t.throws(() => readOptions(['--tool', 'ab']), /--tool must be auto, wrk or autocannon/)
  t.throws(() => readOptions(['--target', 'ftp://x']), /--target must be an http:\/\/ URL/)
  t.throws(() => readOptions(['--bogus']), /Unknown option '--bogus'/)
  t.throws(() => readOptions(['--env', 'lower=1']), /--env must be NAME=value/)
})

t.test('share splits a count over threads exactly', async (t) => {
  t.same(
    [0, 1, 2].map((i) => share(10, 3, i)),
    [4, 3, 3],
  )
  t.equal(
    [0, 1, 2, 3].reduce((a, i) => a + share(1_000_001, 4, i), 0),
    1_000_001,
  )
})

const WRK_LINE =
  'wrk-result {"requests":10000,"durationUs":500000,"connect":1,"read":9990,"write":0,"status":3,' +
  '"timeout":2,"p50":250,"p90":900,"p99":2500,"p999":3200,"max":3300,"mean":420.5,' +
  '"statuses":{"200":9997,"503":3},"wins":150}'

t.test("wrk's result line becomes a LoadResult in milliseconds", async (t) => {
  const r = parseWrkOutput(`Running 10s test\n${WRK_LINE}\n`, false)
  t.equal(r.requests, 10_000)
  t.equal(r.seconds, 0.5)
  t.equal(r.reqPerSec, 20_000)
  t.same(r.latency, { p50: 0.25, p90: 0.9, p99: 2.5, p999: 3.2, max: 3.3, mean: 0.4205 })
  t.same(r.statuses, { '200': 9997, '503': 3 })
  t.equal(r.wins, 150)
  t.equal(r.non2xx, 3)
  t.equal(r.errors, 1 + 2 + 9990, 'read errors count when the connection should have stayed open')
  t.equal(r.closes, 0)
})

t.test("with Connection: close, wrk's read errors are the server's closes", async (t) => {
  const r = parseWrkOutput(WRK_LINE, true)
  t.equal(r.errors, 3)
  t.equal(r.closes, 9990)
})

t.test('wrk output without a result line is an error that shows the output', async (t) => {
  t.throws(
    () => parseWrkOutput('unable to connect to 127.0.0.1:1 Connection refused', false),
    /Connection refused/,
  )
})

const failed = (checks: ReturnType<typeof sanity>) => checks.filter((c) => !c.ok).map((c) => c.what)

t.test('a sound counted run passes every sanity check', async (t) => {
  t.same(failed(sanity(plan('seed', knobs), result(), 'seckill')), [])
})

t.test(
  'sanity checks catch a short count, errors, zero throughput and disordered percentiles',
  async (t) => {
    const p = plan('seed', knobs)
    t.same(failed(sanity(p, result({ requests: 9_999, statuses: { '200': 9_999 } }), 'seckill')), [
      'responses',
    ])
    t.same(failed(sanity(p, result({ errors: 2 }), 'seckill')), ['no errors'])
    t.same(failed(sanity(p, result({ reqPerSec: 0 }), 'seckill')), ['throughput'])
    t.same(failed(sanity(p, result({ reqPerSec: Number.NaN }), 'seckill')), ['throughput'])
    const lat = { p50: 3, p90: 2, p99: 3, p999: 4, max: 5, mean: 1 }
    t.same(failed(sanity(p, result({ latency: lat }), 'seckill')), ['latency percentiles in order'])
  },
)

t.test('an answer other than 200 fails seckill and the baseline, not a target', async (t) => {
  const p = plan('seed', knobs)
  const r = result({ statuses: { '200': 9_990, '503': 10 }, non2xx: 10 })
  t.same(failed(sanity(p, r, 'seckill')), ['every answer HTTP 200'])
  t.same(failed(sanity(p, r, 'baseline')), ['every answer HTTP 200'])
  t.same(failed(sanity(p, r, 'target')), [])
  const unknown = result({ statuses: null, non2xx: 4 })
  t.same(
    failed(sanity(p, unknown, 'seckill')),
    ['every answer HTTP 200'],
    'from non2xx when statuses are unknown',
  )
  const lost = result({ statuses: { '200': 9_000 } })
  t.same(failed(sanity(p, lost, 'seckill')), ['every answer counted by status'])
})

t.test('the close scenario needs one server close per response', async (t) => {
  const p = plan('close', knobs)
  t.same(failed(sanity(p, result({ closes: 10_000 }), 'seckill')), [])
  t.same(failed(sanity(p, result({ closes: 0 }), 'seckill')), ['a new connection per request'])
  t.same(
    failed(sanity(p, result({ closes: null }), 'seckill')),
    [],
    'not judged when the tool cannot tell',
  )
})

function report(target: string | null): RunReport {
  const p = plan('seed', knobs)
  return {
    startedAt: '2026-11-23T00:00:00.000Z',
    machine: { cores: 2, cpu: 'x', memGiB: 24, node: 'v20', os: 'linux' },
    workers: 2,
    env: {},
    target,
    ok: true,
    scenarios: [
      {
        name: 'seed',
        title: p.title,
        load: p.load,
        results: {
          baseline: result({ reqPerSec: 40_000 }),
          seckill: result({ reqPerSec: 30_000 }),
          ...(target ? { target: result({ reqPerSec: 10_000, tool: 'wrk' }) } : {}),
        },
        verification: null,
        checks: [{ role: 'seckill', what: 'x', ok: false, detail: '' }],
      },
    ],
  }
}

t.test('the table puts the servers side by side with their ratios', async (t) => {
  const [row] = tableRows(report('http://127.0.0.1:3005'))
  t.equal(row?.['baseline req/s'], '40,000')
  t.equal(row?.['seckill req/s'], '30,000')
  t.equal(row?.['seckill x base'], '0.75')
  t.equal(row?.['target req/s'], '10,000')
  t.equal(row?.['target x base'], '0.25')
  t.equal(row?.['seckill / target'], '3.00')
  t.equal(row?.checks, '1 FAILED of 1')
  const [plain] = tableRows(report(null))
  t.notOk(plain && 'target req/s' in plain, 'no target columns without a target')
  t.same(Object.keys(row ?? {}).slice(2, 8), [
    'baseline req/s',
    'seckill req/s',
    'seckill x base',
    'target req/s',
    'target x base',
    'seckill / target',
  ])
  const md = markdownTable(report(null)).split('\n')
  t.equal(md.length, 3)
  t.match(md[2], /^\| seed \| wrk \| 40,000 \| 30,000 \| 0.75 \|/)
})
