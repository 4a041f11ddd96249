import type { Check, ServerRole } from '../checks'
import { isAb } from '../load/ab'
import type { LoadResult, LoadSpec } from '../load/load-spec'
import type { ScenarioName } from '../scenarios'
import type { Verification } from '../verify'

/** The JSON written per run (bench/results/<stamp>.json), from which the table and HTML are made. */
export interface RoleCheck extends Check {
  readonly role: ServerRole
}

export interface ScenarioReport {
  readonly name: ScenarioName
  /** `nodes`: how many seckill nodes behind nginx */
  readonly nodes?: number
  readonly title: string
  readonly load: Omit<LoadSpec, 'origin' | 'label'>
  readonly results: Partial<Record<ServerRole, LoadResult>>
  readonly verification: Verification | null
  readonly checks: readonly RoleCheck[]
}

export interface Machine {
  readonly cores: number
  readonly cpu: string
  readonly memGiB: number
  readonly node: string
  readonly os: string
}

export interface RunReport {
  readonly startedAt: string
  readonly machine: Machine
  readonly workers: number
  /** extra environment seckill ran with (--env) */
  readonly env: Readonly<Record<string, string>>
  readonly target: string | null
  /** a live dashboard was connected to seckill during every load (--dashboard); absent: no */
  readonly dashboard?: boolean
  readonly scenarios: ScenarioReport[]
  readonly ok: boolean
}

export interface TableRow {
  scenario: string
  tool: string
  'baseline req/s': string
  'seckill req/s': string
  'seckill x base': string
  'target req/s'?: string
  'target x base'?: string
  'seckill / target'?: string
  'p99 ms base/seckill/target': string
  checks: string
}

const num = (n: number | undefined) =>
  n === undefined ? '-' : Math.round(n).toLocaleString('en-US')
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || b === 0 ? '-' : (a / b).toFixed(2)
const ms = (r: LoadResult | undefined) =>
  r === undefined ? '-' : String(Number(r.latency.p99.toFixed(2)))

/** A scenario's name in tables and charts: `nodes` runs once per fleet size (`nodes 3`). */
export function scenarioLabel(s: Pick<ScenarioReport, 'name' | 'nodes'>): string {
  return s.nodes === undefined ? s.name : `${s.name} ${s.nodes}`
}

/** One row per scenario: throughput side by side with its ratios, p99, and the checks' tally. */
export function tableRows(report: RunReport): TableRow[] {
  return report.scenarios.map((s) => {
    const { baseline: b, seckill: k, target: t } = s.results
    const failed = s.checks.filter((c) => !c.ok).length
    const row: TableRow = {
      scenario: scenarioLabel(s),
      tool: k?.tool ?? b?.tool ?? t?.tool ?? '-',
      'baseline req/s': num(b?.reqPerSec),
      'seckill req/s': num(k?.reqPerSec),
      'seckill x base': ratio(k?.reqPerSec, b?.reqPerSec),
      ...(report.target === null
        ? {}
        : {
            'target req/s': num(t?.reqPerSec),
            'target x base': ratio(t?.reqPerSec, b?.reqPerSec),
            'seckill / target': ratio(k?.reqPerSec, t?.reqPerSec),
          }),
      'p99 ms base/seckill/target': `${ms(b)} / ${ms(k)} / ${ms(t)}`,
      checks: failed === 0 ? `${s.checks.length} ok` : `${failed} FAILED of ${s.checks.length}`,
    }
    return row
  })
}

/** The Markdown form of the table, for the README and closing notes. */
export function markdownTable(report: RunReport): string {
  return markdown(tableRows(report))
}

/** Rows of one shape as a Markdown table. */
export function markdown<R extends object>(rows: readonly R[]): string {
  const first = rows[0]
  if (!first) return ''
  const cols = Object.keys(first) as (keyof R)[]
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`
  return [
    line(cols.map(String)),
    line(cols.map(() => '---')),
    ...rows.map((r) => line(cols.map((c) => String(r[c] ?? '-')))),
  ].join('\n')
}

export interface AbRow {
  scenario: string
  server: ServerRole
  'req/s': string
  'x base': string
  'ms per request': string
  'ms across all': string
  'failed (Connect/Receive/Length/Exceptions)': string
  'non-2xx': number
  'keep-alive': number
  /** ab's "served within" percentiles, whole ms as ab prints them */
  'ms 50/90/99/100 %': string
}

/**
 * ApacheBench's own numbers, one row per server of each ab scenario, as ab printed them: what a
 * benchmarker holds against the article's `ab -n 10000 -c 100` (about 4,300 req/s on a laptop).
 * The ratio is to the bare uWS baseline behind the same nginx.
 */
export function abRows(report: RunReport): AbRow[] {
  const rows: AbRow[] = []
  for (const s of report.scenarios) {
    const base = s.results.baseline
    for (const role of ['baseline', 'seckill', 'target'] as const) {
      const r = s.results[role]
      if (!r || !isAb(r)) continue
      const { ab } = r
      const f = ab.failedBy
      rows.push({
        scenario: s.name,
        server: role,
        'req/s': num(ab.requestsPerSecond),
        'x base': ratio(ab.requestsPerSecond, base?.reqPerSec),
        'ms per request': ab.timePerRequest.toFixed(3),
        'ms across all': ab.timePerRequestAcross.toFixed(3),
        'failed (Connect/Receive/Length/Exceptions)': `${ab.failed} (${f.connect}/${f.receive}/${f.length}/${f.exceptions})`,
        'non-2xx': ab.non2xx,
        'keep-alive': ab.keepAlive,
        'ms 50/90/99/100 %': ['50', '90', '99', '100'].map((p) => ab.served[p] ?? '-').join(' / '),
      })
    }
  }
  return rows
}
