import type { Check, ServerRole } from '../checks'
import type { LoadResult, LoadSpec } from '../load/load-spec'
import type { ScenarioName } from '../scenarios'
import type { Verification } from '../verify'

/** The JSON written per run (bench/results/<stamp>.json), from which the table and HTML are made. */
export interface RoleCheck extends Check {
  readonly role: ServerRole
}

export interface ScenarioReport {
  readonly name: ScenarioName
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

/** One row per scenario: throughput side by side with its ratios, p99, and the checks' tally. */
export function tableRows(report: RunReport): TableRow[] {
  return report.scenarios.map((s) => {
    const { baseline: b, seckill: k, target: t } = s.results
    const failed = s.checks.filter((c) => !c.ok).length
    const row: TableRow = {
      scenario: s.name,
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
  const rows = tableRows(report)
  const first = rows[0]
  if (!first) return ''
  const cols = Object.keys(first) as (keyof TableRow)[]
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`
  return [
    line(cols),
    line(cols.map(() => '---')),
    ...rows.map((r) => line(cols.map((c) => r[c] ?? '-'))),
  ].join('\n')
}
