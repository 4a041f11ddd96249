import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { ServerRole } from '../checks'
import { abRows, type RunReport, scenarioLabel, tableRows } from './run-report'

/**
 * The HTML report: one self-contained file (Chart.js inlined, no network needed) with throughput
 * per scenario and latency percentiles per scenario, baseline vs seckill vs target, the table,
 * and every check.
 */
const ROLES: readonly ServerRole[] = ['baseline', 'seckill', 'target']
const COLOURS: Record<ServerRole, string> = {
  baseline: '#9aa5b1',
  seckill: '#d64545',
  target: '#3b82f6',
}

/** Chart.js's browser bundle (its package exports only the module builds; the UMD sits beside). */
function chartJs(): string {
  return readFileSync(join(dirname(require.resolve('chart.js')), 'chart.umd.min.js'), 'utf8')
}

const html = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  )

/** JSON that is safe inside a <script> element. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c')

function table(rows: Record<string, string | number | undefined>[]): string {
  const first = rows[0]
  if (!first) return ''
  const cols = Object.keys(first)
  const head = cols.map((c) => `<th>${html(c)}</th>`).join('')
  const body = rows
    .map((r) => `<tr>${cols.map((c) => `<td>${html(String(r[c] ?? '-'))}</td>`).join('')}</tr>`)
    .join('\n')
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`
}

export function renderHtml(report: RunReport): string {
  const scenarios = report.scenarios.map(scenarioLabel)
  const roles = ROLES.filter((r) => report.scenarios.some((s) => s.results[r]))
  const throughput = {
    labels: scenarios,
    datasets: roles.map((role) => ({
      label: role,
      backgroundColor: COLOURS[role],
      data: report.scenarios.map((s) => s.results[role]?.reqPerSec ?? null),
    })),
  }
  const latency = report.scenarios.map((s) => ({
    name: scenarioLabel(s),
    data: {
      labels: ['p50', 'p90', 'p99', 'p99.9', 'max'],
      datasets: roles
        .filter((role) => s.results[role])
        .map((role) => {
          const l = s.results[role]!.latency
          return {
            label: role,
            backgroundColor: COLOURS[role],
            data: [l.p50, l.p90, l.p99, l.p999, l.max],
          }
        }),
    },
  }))
  const m = report.machine
  const checks = report.scenarios.flatMap((s) =>
    s.checks.map((c) => ({
      scenario: scenarioLabel(s),
      server: c.role,
      check: c.what,
      ok: c.ok ? 'ok' : 'FAILED',
      detail: c.detail,
    })),
  )
  const verifications = report.scenarios
    .filter((s) => s.verification)
    .map((s) => {
      const v = s.verification!
      return {
        scenario: scenarioLabel(s),
        'units sold': v.sold,
        'orders in PostgreSQL': v.ordersInPg,
        'last sale after load start, ms': v.lastSaleMs ?? '-',
        'last order in PostgreSQL after load start, ms': v.lastOrderInPgMs ?? '-',
      }
    })
  const ab = abRows(report)
  const abSection = ab.length
    ? `<h2>ApacheBench's own numbers, through nginx in front of each server</h2>
<p>As ab printed them; "x base" is the ratio to the bare uWS baseline behind the same nginx. ab
counts an answer whose length differs from the first answer's as a Length failure: on /buy/ticket,
a sale among refusals.</p>
${table(ab as unknown as Record<string, string>[])}`
    : ''
  const sections = report.scenarios
    .map(
      (s) => `<section><h3>${html(scenarioLabel(s))}: ${html(s.title)}</h3>
<p class="tool">${html(Object.values(s.results)[0]?.tool ?? '')}${Object.values(s.results)[0]?.tool === 'ab' ? ' through nginx (lvs/nginx/nginx.conf); ab has no p99.9' : ''}${s.results.seckill?.coCorrected ? ', latency corrected for coordinated omission' : ''}</p>
<div class="chart"><canvas id="lat-${html(scenarioLabel(s))}"></canvas></div></section>`,
    )
    .join('\n')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>seckill benchmark ${html(report.startedAt)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#1f2933}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}td,th{border:1px solid #cbd2d9;padding:.3rem .6rem;text-align:right}
th{background:#f0f4f8}td:first-child,th:first-child{text-align:left}.chart{height:320px}.tool{color:#616e7c}
section{display:inline-block;width:48%;vertical-align:top;margin-right:1%}
</style></head><body>
<h1>seckill benchmark</h1>
<p>${html(report.startedAt)} &middot; ${m.cores} cores (${html(m.cpu)}), ${m.memGiB} GiB &middot; Node ${html(m.node)} &middot;
${html(m.os)} &middot; ${report.workers} seckill workers and as many baseline processes${report.target ? ` &middot; target ${html(report.target)}` : ''}.
The load generator runs on the same cores as the servers: read the ratios.</p>
<p><strong>${report.ok ? 'All checks passed.' : 'Some checks FAILED: see below.'}</strong></p>
${table(tableRows(report) as unknown as Record<string, string>[])}
<h2>Throughput, requests per second</h2>
<div class="chart"><canvas id="throughput"></canvas></div>
<h2>Latency percentiles, ms (log scale)</h2>
${sections}
${abSection}
${verifications.length ? `<h2>What seckill did (API and PostgreSQL after the load)</h2>${table(verifications)}` : ''}
<h2>Checks</h2>
${table(checks)}
<script>${chartJs()}</script>
<script>
const throughput = ${scriptJson(throughput)};
const latency = ${scriptJson(latency)};
new Chart(document.getElementById('throughput'), { type: 'bar', data: throughput,
  options: { maintainAspectRatio: false, animation: false } });
for (const l of latency) {
  new Chart(document.getElementById('lat-' + l.name), { type: 'bar', data: l.data,
    options: { maintainAspectRatio: false, animation: false, scales: { y: { type: 'logarithmic', title: { display: true, text: 'ms' } } } } });
}
</script>
</body></html>
`
}
