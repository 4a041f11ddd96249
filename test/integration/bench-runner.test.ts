import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startBareUws } from '../../bench/harness/servers'
import { freePort, launchNode, untilExit } from '../../bench/harness/spawn'
import { DATABASE_URL } from '../../bench/harness/store-fixture'
import type { Teardown } from '../../bench/harness/teardown'
import { type AbResult, abToolsMissing } from '../../bench/load/ab'
import { wrkInstalled } from '../../bench/load/wrk'
import type { RunReport } from '../../bench/report/run-report'

/**
 * The benchmark runner end to end, in its CI size (`--quick`): it starts the baseline and seckill
 * itself on the real Redis and PostgreSQL, loads them, and writes its JSON and HTML. What is
 * asserted is that it works and its numbers are sane; never how fast anything is.
 */

/** A quick run takes seconds; the bound turns a hung runner into a failure with its output. */
const RUN_MS = 100_000

interface Run {
  code: number | null
  out: string
  report: RunReport | null
  html: string | null
}

async function bench(t: Teardown, args: string[]): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'seckill-bench-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const port = await freePort()
  const argv = ['--port', String(port), '--database', DATABASE_URL, '--out', dir, ...args]
  const { code, out } = await untilExit(launchNode('bench/run.js', {}, argv), RUN_MS)
  const files = readdirSync(dir)
  const json = files.find((f) => f.endsWith('.json'))
  const html = files.find((f) => f.endsWith('.html'))
  return {
    code,
    out,
    report: json ? (JSON.parse(readFileSync(join(dir, json), 'utf8')) as RunReport) : null,
    html: html ? readFileSync(join(dir, html), 'utf8') : null,
  }
}

/** The assertion message of the exit code: the runner's output only when it failed. */
const exited = (run: Run) => (run.code === 0 ? 'exits 0' : `exits ${run.code}:\n${run.out}`)

t.test(
  'the quick seed scenario runs the article experiment on the baseline and seckill',
  async (t) => {
    const run = await bench(t, ['--scenario', 'seed', '--quick'])
    t.equal(run.code, 0, exited(run))
    const report = run.report!
    t.ok(report, 'a JSON report was written')
    t.equal(report.ok, true)
    // nproc asks the kernel itself: a report with a made-up or constant core count differs.
    const nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim())
    t.equal(report.machine.cores, nproc, 'the report names the cores it ran on (as nproc counts)')
    const [seed] = report.scenarios
    t.equal(seed?.name, 'seed')
    const { baseline, seckill } = seed!.results
    const tool = wrkInstalled() ? 'wrk' : 'autocannon'
    for (const r of [baseline!, seckill!]) {
      t.equal(r.tool, tool, `${tool} ran the closed-loop load`)
      t.equal(r.requests, 10_000)
      t.equal(r.errors, 0)
      t.ok(r.reqPerSec > 0 && Number.isFinite(r.reqPerSec))
      t.ok(r.latency.p50 <= r.latency.p99 && r.latency.p99 <= r.latency.max)
    }
    t.equal(seed!.verification?.sold, 150, 'seckill sold its 150 units')
    t.equal(seed!.verification?.ordersInPg, 150, 'and PostgreSQL holds their orders')
    // wrk counts the winning bodies (bench/load/wrk.lua); autocannon cannot, and says so with null.
    t.equal(seckill!.wins, wrkInstalled() ? 150 : null, 'the clients were told of 150 wins')
    t.ok(seed!.checks.length >= 10 && seed!.checks.every((c) => c.ok))
    t.match(
      run.out,
      /\| seed \| (wrk|autocannon) \| [\d,]+ \| [\d,]+ \| \d+\.\d\d \|/,
      'the Markdown table is printed',
    )
    t.match(run.html, /<canvas id="throughput">/)
    t.match(run.html, /<canvas id="lat-seed">/)
    t.match(run.html, /new Chart\(/)
    t.match(run.html, /"labels":\["seed"\]/)
  },
)

t.test('a --target gets the same load and its own column; autocannon can run it', async (t) => {
  const targetPort = await freePort()
  await startBareUws(t, { port: targetPort, workers: 1 })
  const run = await bench(t, [
    '--scenario',
    'seed',
    '--quick',
    '--no-baseline',
    '--tool',
    'autocannon',
    '--requests',
    '2000',
    '--target',
    `http://127.0.0.1:${targetPort}`,
  ])
  t.equal(run.code, 0, exited(run))
  const seed = run.report!.scenarios[0]!
  t.notOk(seed.results.baseline, 'no baseline when asked not to')
  t.equal(seed.results.target?.requests, 2_000)
  t.equal(seed.results.target?.tool, 'autocannon')
  t.equal(seed.results.seckill?.requests, 2_000)
  t.same(seed.results.seckill?.statuses, { '200': 2_000 })
  t.equal(run.report!.target, `http://127.0.0.1:${targetPort}`)
  t.match(run.out, /seckill \/ target/)
})

const noGo = spawnSync('go', ['version']).error
  ? 'go is not installed (.ci/run installs golang-go and redigo)'
  : false

t.test(
  '--go-reference builds the Go reference and loads it with the same requests',
  { skip: noGo },
  async (t) => {
    const run = await bench(t, [
      '--scenario',
      'seed',
      '--quick',
      '--no-baseline',
      '--requests',
      '2000',
      '--go-reference',
    ])
    t.equal(run.code, 0, exited(run))
    const seed = run.report!.scenarios[0]!
    t.match(run.report!.target, /Go reference/)
    t.equal(seed.results.target?.requests, 2_000)
    t.same(
      seed.results.target?.statuses,
      { '200': 2_000 },
      'every answer a 200, as the reference does',
    )
    t.equal(seed.results.target?.wins, wrkInstalled() ? 150 : null, 'it sold its 150 units')
    const goChecks = seed.checks.filter((c) => c.role === 'target')
    t.ok(goChecks.some((c) => c.what === 'Go reference sold no more than its stock' && c.ok))
    t.ok(goChecks.every((c) => c.ok))
  },
)

const noAb = abToolsMissing() === null ? false : `${abToolsMissing()} (.ci/run installs them)`

t.test(
  "the quick ab scenario runs the article's command through nginx in front of the baseline and seckill",
  { skip: noAb },
  async (t) => {
    // Without --go-reference: the Go reference goes behind nginx the same way (bench/run.ts's
    // entry), and CI's time is short; the README's ab results are measured with it.
    const run = await bench(t, ['--scenario', 'ab', '--quick'])
    t.equal(run.code, 0, exited(run))
    const [ab] = run.report!.scenarios
    t.equal(ab?.name, 'ab')
    const { baseline, seckill } = ab!.results as Record<string, AbResult>
    for (const [role, r] of [
      ['baseline', baseline!],
      ['seckill', seckill!],
    ] as const) {
      t.equal(r.tool, 'ab')
      t.match(r.ab.command, /^ab -n 2000 -c 100 http:\/\/127\.0\.0\.1:\d+\/buy\/ticket$/, role)
      t.equal(r.ab.complete, 2_000)
      const { connect, receive, exceptions } = r.ab.failedBy
      t.same({ connect, receive, exceptions }, { connect: 0, receive: 0, exceptions: 0 })
      t.equal(r.ab.non2xx, 0)
      t.equal(r.ab.keepAlive, 0, 'a connection per request, as the article ran it')
      t.match(r.ab.output, /Server Software: +nginx/, 'nginx answered ab')
    }
    t.equal(baseline!.ab.failedBy.length, 0, 'the baseline answers one body: no Length failures')
    t.ok(
      [150, 1_850].includes(seckill!.ab.failedBy.length),
      `seckill's Length failures are its 150 sales or its 1,850 refusals: ${seckill!.ab.failedBy.length}`,
    )
    t.equal(ab!.verification?.sold, 150, 'seckill sold its 150 units')
    t.equal(ab!.verification?.ordersInPg, 150, 'and PostgreSQL holds their orders')
    t.ok(ab!.checks.length >= 15 && ab!.checks.every((c) => c.ok))
    t.match(run.out, /ApacheBench's own numbers/)
    t.match(run.out, /\| ab \| seckill \| [\d,]+ \| \d+\.\d\d \|/, "ab's table in Markdown")
    t.match(run.html, /ApacheBench's own numbers/)
  },
)

t.test('without ab or nginx the ab scenarios say so, naming the Debian packages', async (t) => {
  // In this process, not a runner's: main() prints this and exits 2 (skips them if not named).
  const path = process.env.PATH
  t.teardown(() => {
    process.env.PATH = path
  })
  process.env.PATH = '/nonexistent'
  t.equal(
    abToolsMissing(),
    'the ab scenarios run ApacheBench through nginx; not installed: ' +
      'ab (apt-get install apache2-utils), nginx (apt-get install nginx-light)',
  )
})

t.test('--env reaches seckill: a value its config refuses stops the run, naming it', async (t) => {
  const run = await bench(t, [
    '--scenario',
    'seed',
    '--quick',
    '--no-baseline',
    '--env',
    'QUOTA_CHUNK=0',
  ])
  t.equal(run.code, 1)
  t.match(run.out, /QUOTA_CHUNK/)
  t.equal(run.report, null, 'no report for a run that did not happen')
})

t.test('bad usage exits 2 with the reason and the usage', async (t) => {
  const run = await bench(t, ['--scenario', 'nope'])
  t.equal(run.code, 2)
  t.match(run.out, /--scenario: unknown "nope"/)
  t.match(run.out, /usage: npm run bench/)
  t.equal(run.report, null, 'no report for a run that did not happen')
})

t.test('a target that does not answer is refused before any load', async (t) => {
  const port = await freePort()
  const run = await bench(t, ['--scenario', 'seed', '--target', `http://127.0.0.1:${port}`])
  t.equal(run.code, 2)
  t.match(run.out, new RegExp(`--target http://127.0.0.1:${port} does not answer`))
})
