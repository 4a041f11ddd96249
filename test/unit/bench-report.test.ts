import t from 'tap'
import { abChecks, sanity } from '../../bench/checks'
import { parseAbOutput } from '../../bench/load/ab'
import type { LoadResult } from '../../bench/load/load-spec'
import { share } from '../../bench/load/load-spec'
import { parseWrkOutput } from '../../bench/load/wrk'
import { readOptions } from '../../bench/options'
import { abRows, markdownTable, type RunReport, tableRows } from '../../bench/report/run-report'
import { plan } from '../../bench/scenarios'

/** The benchmark runner's pure parts: options, plans, wrk's and ab's output, the checks, the table. */

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

t.test('the page scenario polls the state JSON, is timed, and runs by name only', async (t) => {
  const p = plan('page', { ...knobs, quick: true })
  t.equal(p.load.path, '/api/v1/sales/bench/state')
  t.equal(p.load.duration, 2)
  t.equal(p.presold, 0)
  t.same(Object.keys(JSON.parse(p.baselineBody)), [
    'state',
    'remaining',
    'serverTime',
    'startsAt',
    'endsAt',
  ])
  t.notOk(readOptions([]).scenarios.includes('page'), 'not in the default run')
  t.same(readOptions(['--scenario', 'page']).scenarios, ['page'])
})

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

t.test(
  "the ab plans are the article's command through nginx, the seed's sale, -k only in ab-k",
  async (t) => {
    const ab = plan('ab', knobs)
    t.ok(ab.ab, 'loaded by ab through nginx')
    t.equal(ab.load.amount, 10_000)
    t.equal(ab.load.connections, 100)
    t.equal(ab.stock, 150)
    t.equal(ab.load.close, true, 'a connection per request, as ab without -k')
    t.equal(plan('ab-k', knobs).load.close, false)
    t.equal(plan('ab', { ...knobs, quick: true }).load.amount, 2_000, 'quick: 2,000 requests')
    t.equal(plan('ab', { ...knobs, requests: 500, connections: 7 }).load.amount, 500)
    t.notOk(plan('seed', knobs).ab)
  },
)

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
    t.same(readOptions([]).scenarios, [
      'seed',
      'refuse',
      'sell',
      'close',
      'latency',
      'storm',
      'ab',
      'ab-k',
    ])
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
  t.throws(() => readOptions(['--nginx-workers', '0']), /--nginx-workers must be between 1/)
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

// ab 2.3 through nginx in front of seckill: 150 sales among 9,850 refusals, the first a sale.
const AB_OUT = `This is ApacheBench, Version 2.3 <$Revision: 1903618 $>

Server Software:        nginx/1.22.1
Server Hostname:        127.0.0.1
Server Port:            39727

Document Path:          /buy/ticket
Document Length:        75 bytes

Concurrency Level:      100
Time taken for tests:   0.979 seconds
Complete requests:      10000
Failed requests:        9853
   (Connect: 0, Receive: 2, Length: 9850, Exceptions: 1)
Write errors:           4
Non-2xx responses:      3
Keep-Alive requests:    9990
Total transferred:      2150000 bytes
HTML transferred:       290000 bytes
Requests per second:    10214.20 [#/sec] (mean)
Time per request:       9.790 [ms] (mean)
Time per request:       0.098 [ms] (mean, across all concurrent requests)
Transfer rate:          2666.99 [Kbytes/sec] received

Connection Times (ms)
              min  mean[+/-sd] median   max
Connect:        0    2   1.2      2       7
Total:          1   10   2.5      8      64

Percentage of the requests served within a certain time (ms)
  50%      8
  66%      9
  75%     10
  80%     11
  90%     13
  95%     16
  98%     36
  99%     49
 100%     64 (longest request)
`
const AB_CSV = `Percentage served,Time in ms
0,0.516
${Array.from({ length: 99 }, (_, i) => `${i + 1},${(i + 1) / 10}`).join('\n')}
100,64.381
`

t.test("ab's output and percentile CSV become a LoadResult, ab's own numbers kept", async (t) => {
  const r = parseAbOutput(AB_OUT, AB_CSV, 'ab -n 10000 -c 100 http://x/buy/ticket')
  t.equal(r.tool, 'ab')
  t.equal(r.requests, 10_000 - 2 - 1, 'a receive or exception failure is a request not answered')
  t.equal(r.seconds, 0.979)
  t.equal(r.reqPerSec, 10_214.2)
  t.same(r.latency, { p50: 5, p90: 9, p99: 9.9, p999: null, max: 64.381, mean: 9.79 })
  t.equal(r.statuses, null)
  t.equal(r.wins, null, 'ab reads no bodies')
  t.equal(r.non2xx, 3)
  t.equal(r.errors, 2 + 1 + 4, 'receive, exception and write failures; not Length')
  t.same(r.ab.failedBy, { connect: 0, receive: 2, length: 9850, exceptions: 1 })
  t.equal(r.ab.failed, 9853)
  t.equal(r.ab.documentLength, 75)
  t.equal(r.ab.keepAlive, 9990)
  t.equal(r.ab.timePerRequestAcross, 0.098)
  t.same(r.ab.served, { 50: 8, 66: 9, 75: 10, 80: 11, 90: 13, 95: 16, 98: 36, 99: 49, 100: 64 })
  t.match(r.ab.output, /Requests per second: {4}10214\.20/)
})

t.test('ab without failures prints no breakdown, non-2xx or keep-alive lines: zeros', async (t) => {
  const out = AB_OUT.replace(
    /Failed requests:[\s\S]*?Keep-Alive requests:\s+\d+\n/,
    'Failed requests:        0\n',
  )
  const r = parseAbOutput(out, AB_CSV, 'ab')
  t.same(r.ab.failedBy, { connect: 0, receive: 0, length: 0, exceptions: 0 })
  t.equal(r.ab.writeErrors + r.ab.non2xx + r.ab.keepAlive, 0)
  t.equal(r.errors, 0)
  t.equal(r.requests, 10_000)
})

t.test('ab output without its summary is an error that shows the output', async (t) => {
  t.throws(
    () => parseAbOutput('apr_socket_recv: Connection refused (111)', '', 'ab'),
    /no "Complete requests"[\s\S]*Connection refused/,
  )
  t.throws(() => parseAbOutput(AB_OUT, 'Percentage served,Time in ms\n', 'ab'), /no 50 %/)
})

const failed = (checks: ReturnType<typeof sanity>) => checks.filter((c) => !c.ok).map((c) => c.what)

t.test(
  "ab's checks: Length failures apart, and they must be the sales or the refusals",
  async (t) => {
    const p = plan('ab', knobs)
    const clean = AB_OUT.replace('Receive: 2', 'Receive: 0')
      .replace('Exceptions: 1', 'Exceptions: 0')
      .replace(/Write errors:.*\n/, '')
      .replace(/Non-2xx responses:.*\n/, '')
    const r = parseAbOutput(clean, AB_CSV, 'ab')
    t.same(failed(abChecks(p, r, 150)), [], '9,850 Length failures: the refusals of 150 sales')
    t.same(failed(abChecks(p, r, 9_850)), [], 'or the sales, had the first answer been a refusal')
    t.same(failed(abChecks(p, r, 149)), ["ab's Length failures are the sales or the refusals"])
    t.same(failed(abChecks(p, r, null)), [], 'not judged when the sales are unknown')
    t.same(failed(abChecks(p, parseAbOutput(AB_OUT, AB_CSV, 'ab'), 150)), [
      'ab: no failed requests but by length',
    ])
    t.same(failed(abChecks(plan('ab-k', knobs), r, 150)), [
      'ab -k: every answer on a kept connection',
    ])
    t.same(failed(sanity(p, r, 'seckill')), [], 'the sanity checks pass without a p99.9')
    t.same(abChecks(p, result(), 150), [], 'no ab checks of another tool')
  },
)

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
  const ab = report(null)
  ab.scenarios[0]!.results.seckill = parseAbOutput(AB_OUT, AB_CSV, 'ab')
  const [abRow, ...more] = abRows(ab)
  t.equal(more.length, 0, 'one ab row: the other results are not ab')
  t.equal(abRow?.server, 'seckill')
  t.equal(abRow?.['req/s'], '10,214')
  t.equal(abRow?.['x base'], '0.26', 'against the baseline')
  t.equal(abRow?.['failed (Connect/Receive/Length/Exceptions)'], '9853 (0/2/9850/1)')
  t.equal(abRow?.['ms 50/90/99/100 %'], '8 / 13 / 49 / 64')
  const md = markdownTable(report(null)).split('\n')
  t.equal(md.length, 3)
  t.match(md[2], /^\| seed \| wrk \| 40,000 \| 30,000 \| 0.75 \|/)
})
