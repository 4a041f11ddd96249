import { mkdirSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, platform, release, totalmem } from 'node:os'
import { join } from 'node:path'
import { abChecks, type Check, check, type ServerRole, sanity } from './checks'
import { runFleetScenario } from './fleet-scenario'
import { buildGoReference, GO_REFERENCE, startGoReference } from './go-reference'
import { openSale } from './harness/admin'
import { type DashboardListener, listenDashboard } from './harness/dashboard-listener'
import { inFrontOf, startNginx } from './harness/nginx'
import { until } from './harness/poll'
import { ADMIN_TOKEN, startBareUws, startSeckill } from './harness/servers'
import { storeFixture } from './harness/store-fixture'
import { type Teardown, Teardowns } from './harness/teardown'
import { abToolsMissing, runAb } from './load/ab'
import { runAutocannon } from './load/autocannon'
import type { LoadResult, LoadSpec } from './load/load-spec'
import { runOpenLoop } from './load/open-loop'
import { runWrk, wrkInstalled } from './load/wrk'
import { type BenchOptions, readOptions, USAGE } from './options'
import { renderHtml } from './report/html'
import {
  abRows,
  markdown,
  markdownTable,
  type RoleCheck,
  type RunReport,
  type ScenarioReport,
  scenarioLabel,
  tableRows,
} from './report/run-report'
import { FLEET_SIZES, type Plan, plan, SALE_ID } from './scenarios'
import { verify } from './verify'

/**
 * The benchmark suite: each scenario against a bare uWS baseline, seckill (started here with its
 * own Redis prefix and PostgreSQL schema) and optionally a `--target` such as the Go reference
 * server, with the same load; a side-by-side table, a JSON file and an HTML report per run.
 *
 *   npm run bench -- [--scenario seed,storm] [--quick] [--tool wrk] [--target http://host:port]
 *
 * The ab scenarios load each server through nginx from lvs/nginx/nginx.conf, started in front of
 * it for its run, so that ApacheBench (HTTP/1.0) runs the article's own command.
 */
const step = (s: string) => process.stderr.write(`bench: ${s}\n`)

function generator(
  o: BenchOptions,
  wrk: boolean,
  p: Plan,
): (spec: LoadSpec) => Promise<LoadResult> {
  if (p.ab) return runAb
  if (p.openLoop) return runOpenLoop
  return wrk ? (spec) => runWrk(spec, o.threads) : runAutocannon
}

/** Buy `units` before the load (a sold-out sale for the refusal scenarios). */
async function presell(origin: string, units: number): Promise<void> {
  for (let i = 0; i < units; i++) {
    const res = await fetch(`${origin}/buy/ticket`)
    if (!(await res.text()).includes('"code":1,'))
      throw new Error(`${origin}: could not buy a unit before the load`)
  }
}

/**
 * Where the load for the server at `origin` goes: the server itself, or (ab) nginx from the
 * shipped config in front of it, stopped with `t` before the server is.
 */
async function entry(o: BenchOptions, p: Plan, t: Teardown, origin: string): Promise<string> {
  if (!p.ab) return origin
  const port = await startNginx(t, inFrontOf(new URL(origin).host, o.nginxWorkers))
  return `http://127.0.0.1:${port}`
}

/** A dashboard connected to seckill (--dashboard), its first snapshot in hand before the load. */
async function openDashboard(port: number): Promise<DashboardListener> {
  const d = listenDashboard(port, ADMIN_TOKEN)
  const status = await d.answered
  if (status !== 200) throw new Error(`--dashboard: the push channel answered ${status}`)
  await until(() => d.snapshots.length > 0, { timeoutMs: 5000 })
  d.snapshots.length = 0
  return d
}

/** The dashboard kept getting its snapshot about once a second all through the load. */
function dashboardCheck(d: DashboardListener, ms: number): Check[] {
  d.close()
  const got = d.snapshots.length
  // A second's snapshot may be skipped while the primary's metrics round is still running.
  const expected = Math.floor(ms / 1000)
  return [
    check(
      'a dashboard stayed connected, fed about once a second',
      got >= Math.max(1, expected - 1),
      `${got} snapshots in ${(ms / 1000).toFixed(1)} s of load`,
    ),
  ]
}

async function runScenario(o: BenchOptions, wrk: boolean, p: Plan): Promise<ScenarioReport> {
  const load = generator(o, wrk, p)
  const origin = `http://127.0.0.1:${o.port}`
  const results: Partial<Record<ServerRole, LoadResult>> = {}
  const checks: RoleCheck[] = []
  const record = (role: ServerRole, cs: Check[]) => checks.push(...cs.map((c) => ({ ...c, role })))
  let verification = null

  if (o.baseline) {
    step(`${p.name}: baseline (bare uWS, ${o.workers} processes)`)
    const bare = new Teardowns()
    try {
      await startBareUws(bare, { port: o.port, workers: o.workers, body: p.baselineBody })
      const via = await entry(o, p, bare, origin)
      results.baseline = await load({ ...p.load, origin: via, label: `${p.name} baseline` })
    } finally {
      await bare.run()
    }
    record('baseline', sanity(p, results.baseline, 'baseline'))
    // It answers one body to everything: it sells nothing.
    record('baseline', abChecks(p, results.baseline, 0))
  }

  step(`${p.name}: seckill (${o.workers} workers)`)
  const td = new Teardowns()
  try {
    const st = storeFixture(td, { redisUrl: o.redis, databaseUrl: o.database, tag: 'bench' })
    const env = { ...st.env(), ...o.env }
    await startSeckill(td, { port: o.port, workers: o.workers, env })
    await openSale(o.port, SALE_ID, p.stock)
    await presell(origin, p.presold)
    const via = await entry(o, p, td, origin)
    const dashboard = o.dashboard ? await openDashboard(o.port) : null
    const startedAt = Date.now()
    results.seckill = await load({ ...p.load, origin: via, label: `${p.name} seckill` })
    if (dashboard) record('seckill', dashboardCheck(dashboard, Date.now() - startedAt))
    record('seckill', sanity(p, results.seckill, 'seckill'))
    verification = await verify(p, results.seckill, o.port, st, startedAt)
    record('seckill', verification.checks)
    record('seckill', abChecks(p, results.seckill, verification.sold))
  } finally {
    // The server stops first, then its keys and schema go (last registered, first undone).
    await td.run()
  }

  if (o.target) {
    step(`${p.name}: target ${o.target}`)
    const tt = new Teardowns()
    try {
      const via = await entry(o, p, tt, o.target)
      results.target = await load({ ...p.load, origin: via, label: `${p.name} target` })
    } finally {
      await tt.run()
    }
    record('target', sanity(p, results.target, 'target'))
    record('target', abChecks(p, results.target, null))
  }
  if (o.goReference) {
    step(`${p.name}: ${GO_REFERENCE}`)
    const gt = new Teardowns()
    try {
      // seckill has stopped: its port is free again.
      const go = await startGoReference(o.port, o.redis, p.stock)
      gt.teardown(() => go.close())
      await presell(go.origin, p.presold)
      const via = await entry(o, p, gt, go.origin)
      results.target = await load({ ...p.load, origin: via, label: `${p.name} go` })
      record('target', sanity(p, results.target, 'target'))
      const sold = (await go.sold()) - p.presold
      const cs = [
        check(
          'Go reference sold no more than its stock',
          sold <= p.stock - p.presold,
          `${sold} sold`,
        ),
      ]
      const { wins, warmupWins = 0 } = results.target
      if (wins !== null) {
        const told = wins + warmupWins
        cs.push(
          check('Go reference told of every sale', told === sold, `${told} wins, ${sold} sold`),
        )
      }
      record('target', cs)
      record('target', abChecks(p, results.target, sold))
    } finally {
      await gt.run()
    }
  }
  return { name: p.name, title: p.title, load: p.load, results, verification, checks }
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2)
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE)
    return 0
  }
  let o: BenchOptions
  try {
    o = readOptions(argv)
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n\n${USAGE}`)
    return 2
  }
  const installed = wrkInstalled()
  const wrk = o.tool === 'wrk' || (o.tool === 'auto' && installed)
  if (o.tool === 'wrk' && !installed) {
    process.stderr.write('bench: --tool wrk, but wrk is not installed (apt-get install wrk)\n')
    return 2
  }
  let names = o.scenarios
  if (!wrk && names.includes('close')) {
    const why = 'close needs wrk: autocannon 8 drops the response it reconnects after'
    if (o.named) {
      process.stderr.write(`bench: ${why} (apt-get install wrk, or leave close out)\n`)
      return 2
    }
    step(`skipping ${why}`)
    names = names.filter((n) => n !== 'close')
  }
  const viaAb = names.filter((n) => plan(n, o).ab)
  const why = viaAb.length > 0 ? abToolsMissing() : null
  if (why) {
    if (o.named) {
      process.stderr.write(`bench: ${why}\n`)
      return 2
    }
    step(`skipping ${why}`)
    names = names.filter((n) => !viaAb.includes(n))
  }
  if (o.target) {
    // Fail before minutes of load if the target is not there.
    const down = await fetch(o.target).then(
      () => null,
      (err: Error) => String(err.cause ?? err),
    )
    if (down) {
      process.stderr.write(`bench: --target ${o.target} does not answer: ${down}\n`)
      return 2
    }
  }
  if (o.goReference) {
    step(`building ${GO_REFERENCE}`)
    const failed = buildGoReference()
    if (failed) {
      process.stderr.write(`bench: --go-reference: ${failed}\n`)
      return 2
    }
  }
  const startedAt = new Date()
  const scenarios: ScenarioReport[] = []
  for (const name of names) {
    const p = plan(name, o)
    if (p.nodes === 0) {
      scenarios.push(await runScenario(o, wrk, p))
      continue
    }
    for (const nodes of FLEET_SIZES) {
      scenarios.push(await runFleetScenario(o, { ...p, nodes }, generator(o, wrk, p), step))
    }
  }

  const report: RunReport = {
    startedAt: startedAt.toISOString(),
    machine: {
      cores: availableParallelism(),
      cpu: cpus()[0]?.model.trim() ?? 'unknown',
      memGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      os: `${platform()} ${release()}`,
    },
    workers: o.workers,
    env: o.env,
    target: o.goReference ? GO_REFERENCE : o.target,
    dashboard: o.dashboard,
    scenarios,
    ok: scenarios.every((s) => s.checks.every((c) => c.ok)),
  }
  mkdirSync(o.out, { recursive: true })
  const stamp = report.startedAt.replace(/[:.]/g, '-')
  const json = join(o.out, `bench-${stamp}.json`)
  const html = join(o.out, `bench-${stamp}.html`)
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`)
  writeFileSync(html, renderHtml(report))

  console.log(
    `\nseckill benchmark: ${report.machine.cores} cores, ${o.workers} workers; load generator on the same cores${o.dashboard ? '; a dashboard connected to seckill' : ''}\n`,
  )
  console.table(tableRows(report))
  const ab = abRows(report)
  if (ab.length > 0) {
    console.log(
      "\nApacheBench's own numbers, through nginx (lvs/nginx/nginx.conf) in front of each server:",
    )
    console.table(ab)
  }
  for (const s of scenarios) {
    const failed = s.checks.filter((c) => !c.ok)
    for (const c of failed)
      console.log(`FAILED ${scenarioLabel(s)} ${c.role}: ${c.what}: ${c.detail}`)
    const v = s.verification
    if (v && s.load.amount !== undefined) {
      console.log(
        `${scenarioLabel(s)}: ${v.sold} units sold, ${v.ordersInPg} orders in PostgreSQL; last sale ${v.lastSaleMs ?? '-'} ms ` +
          `and last order in PostgreSQL ${v.lastOrderInPgMs ?? '-'} ms after the load started`,
      )
    }
  }
  console.log(`\n${markdownTable(report)}\n`)
  if (ab.length > 0) console.log(`${markdown(ab)}\n`)
  console.log(`results: ${json}\nreport:  ${html}`)
  return report.ok ? 0 : 1
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err)
    process.exit(1)
  },
)
