import { type Check, type ServerRole, sanity } from './checks'
import { openSale } from './harness/admin'
import { startNginxOver } from './harness/fleet'
import { inFrontOf, startNginx } from './harness/nginx'
import { startBareUws, startSeckill } from './harness/servers'
import { freePort } from './harness/spawn'
import { storeFixture } from './harness/store-fixture'
import { Teardowns } from './harness/teardown'
import type { LoadResult, LoadSpec } from './load/load-spec'
import type { BenchOptions } from './options'
import type { RoleCheck, ScenarioReport } from './report/run-report'
import { type Plan, SALE_ID } from './scenarios'
import { verify } from './verify'

/**
 * The `nodes` scenario for one fleet size: the storm through nginx (the shipped config, one
 * upstream line per node, equal weights) over `p.nodes` seckill nodes that share one Redis key
 * prefix and one PostgreSQL schema, as a fleet on separate machines would; the baseline is one
 * bare uWS server behind the same nginx. Every node runs WORKERS = workers / nodes (at least 1),
 * so the fleet has about a process per core, as one node would.
 */
export async function runFleetScenario(
  o: BenchOptions,
  p: Plan,
  load: (spec: LoadSpec) => Promise<LoadResult>,
  step: (s: string) => void,
): Promise<ScenarioReport> {
  const results: Partial<Record<ServerRole, LoadResult>> = {}
  const checks: RoleCheck[] = []
  const record = (role: ServerRole, cs: Check[]) => checks.push(...cs.map((c) => ({ ...c, role })))
  const sized = (conf: string) =>
    conf.replace(/^worker_processes [^;]+;/m, `worker_processes ${o.nginxWorkers};`)

  if (o.baseline) {
    step(`${p.name} ${p.nodes}: baseline (bare uWS, ${o.workers} processes, behind nginx)`)
    const bare = new Teardowns()
    try {
      await startBareUws(bare, { port: o.port, workers: o.workers, body: p.baselineBody })
      const front = await startNginx(bare, inFrontOf(`127.0.0.1:${o.port}`, o.nginxWorkers))
      results.baseline = await load({
        ...p.load,
        origin: `http://127.0.0.1:${front}`,
        label: `${p.name} ${p.nodes} baseline`,
      })
    } finally {
      await bare.run()
    }
    record('baseline', sanity(p, results.baseline, 'baseline'))
  }

  const workers = Math.max(1, Math.round(o.workers / p.nodes))
  step(`${p.name} ${p.nodes}: seckill (${p.nodes} nodes of ${workers} workers, behind nginx)`)
  const td = new Teardowns()
  let verification = null
  try {
    const st = storeFixture(td, { redisUrl: o.redis, databaseUrl: o.database, tag: 'bench' })
    const env = { ...st.env(), ...o.env }
    const ports = [o.port]
    while (ports.length < p.nodes) ports.push(await freePort())
    for (const port of ports) await startSeckill(td, { port, workers, env })
    await openSale(o.port, SALE_ID, p.stock)
    const front = await startNginxOver(td, ports, sized)
    const startedAt = Date.now()
    results.seckill = await load({
      ...p.load,
      origin: `http://127.0.0.1:${front}`,
      label: `${p.name} ${p.nodes} seckill`,
    })
    record('seckill', sanity(p, results.seckill, 'seckill'))
    verification = await verify(p, results.seckill, o.port, st, startedAt)
    record('seckill', verification.checks)
  } finally {
    await td.run()
  }
  return {
    name: p.name,
    title: `${p.title}, through nginx over ${p.nodes} node${p.nodes === 1 ? '' : 's'}`,
    nodes: p.nodes,
    load: p.load,
    results,
    verification,
    checks,
  }
}
