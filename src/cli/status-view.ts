import type { NodeStatus, WorkerSaleView } from '../control/protocol'

/** `seckill status` for a person: the node in a few lines, then a table of workers and of sales. */
export function renderStatus(s: NodeStatus): string {
  const n = s.node
  const up = (ok: boolean) => (ok ? 'reachable' : 'NOT REACHABLE')
  const lines = [
    `node      pid ${n.pid}, seckill ${n.version}, up ${duration(n.uptimeS)}, ` +
      `${n.serving ? 'serving' : 'starting'} on ${n.host}:${n.port}` +
      `${n.reloading ? ', reloading' : ''}`,
    `redis     ${n.redis.url} ${up(n.redis.reachable)}`,
    `postgres  schema ${n.postgres.schema} ${up(n.postgres.reachable)}`,
    `config    ${n.configFile ?? 'environment and defaults'}; run dir ${n.runDir}; ` +
      `log ${n.logFile ?? 'stdout'}`,
    `reload    ${n.tcpMigrateReq === 1 ? 'tcp_migrate_req=1' : migrateHint(n.tcpMigrateReq)}; ` +
      `workers recycled over MAX_WORKER_RSS_MB: ${n.recycled}`,
    '',
    table(
      [
        'worker',
        'pid',
        'up',
        'restarts',
        'rss MB',
        'cpu %',
        'req/s',
        'quota',
        'in flight',
        'parked',
      ],
      s.workers.map((w) => [
        w.slot,
        w.pid,
        duration(w.uptimeS),
        w.restarts,
        w.rssMb,
        w.cpuPercent,
        w.requestsPerSecond,
        w.quota,
        w.inflight,
        w.parked,
      ]),
    ),
    '',
    s.sales.length === 0
      ? 'no live sales'
      : table(
          ['sale', 'state', 'stock', 'sold', 'remaining', 'writer backlog', 'writer lag s'],
          s.sales.map((x) => [
            x.id,
            x.state,
            x.stock,
            x.sold,
            x.remaining,
            x.writerBacklog,
            x.writerLagS,
          ]),
        ),
  ]
  return `${lines.join('\n')}\n`
}

function migrateHint(v: number | null): string {
  if (v === null) return 'tcp_migrate_req unknown (not Linux)'
  return 'tcp_migrate_req=0: a reload may reset connections still queued on a closing listener'
}

function duration(s: number): string {
  if (s < 120) return `${s}s`
  if (s < 7200) return `${Math.floor(s / 60)}m`
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`
}

function table(head: string[], rows: (string | number)[][]): string {
  const cells = [head, ...rows.map((r) => r.map(String))]
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)))
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

/**
 * `seckill status --sale ID`: each worker's copy of the sale, what it refuses without asking
 * Redis, and since when (to see that a start, a close or a top-up reached every worker).
 */
export function renderViews(saleId: string, views: readonly WorkerSaleView[]): string {
  const rows = views.map(({ slot, pid, view: v }) =>
    v === null
      ? [slot, pid, 'no copy', '', '', '', '', '', '']
      : [
          slot,
          pid,
          v.state,
          v.stock,
          v.sold,
          v.quota,
          v.inflight,
          v.parked,
          new Date(v.sinceMs).toISOString(),
        ],
  )
  const head = [
    'worker',
    'pid',
    'answers',
    'stock',
    'sold',
    'quota',
    'in flight',
    'parked',
    'since',
  ]
  return `sale ${saleId}, as each worker of this node sees it\n${table(head, rows)}\n`
}
