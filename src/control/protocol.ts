import type { SaleView } from '../purchase/desks'

/**
 * What the operator's commands ask a running node over its control socket (a unix socket, mode
 * 0600, in the run directory): one JSON line in, one JSON line out, then the node closes.
 */
export type ControlRequest =
  | { readonly cmd: 'status' }
  /** replace every worker, one at a time; answered when done */
  | { readonly cmd: 'reload' }
  /** the admin token (it may have been generated for this run), for `seckill sale` */
  | { readonly cmd: 'token' }
  /** each worker's copy of one sale (`seckill status --sale ID`) */
  | { readonly cmd: 'views'; readonly sale: string }

export type ControlAnswer<T = unknown> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: string }

export interface NodeStatus {
  readonly node: {
    readonly pid: number
    readonly version: string
    readonly uptimeS: number
    /** every worker of the first start listens: the node takes traffic */
    readonly serving: boolean
    readonly host: string
    readonly port: number
    /** WORKERS: the slots the node keeps filled */
    readonly workers: number
    /** the config file read, or null (environment and defaults only) */
    readonly configFile: string | null
    readonly runDir: string
    /** where the log goes: a file, or null for stdout */
    readonly logFile: string | null
    readonly redis: { readonly url: string; readonly reachable: boolean }
    readonly postgres: { readonly schema: string; readonly reachable: boolean }
    /** net.ipv4.tcp_migrate_req of the node's network namespace (null: not Linux, or unknown) */
    readonly tcpMigrateReq: number | null
    readonly reloading: boolean
    /** workers replaced because their RSS passed MAX_WORKER_RSS_MB */
    readonly recycled: number
  }
  readonly workers: readonly WorkerStatus[]
  readonly sales: readonly SaleStatus[]
}

export interface WorkerStatus {
  readonly slot: number
  readonly pid: number
  readonly uptimeS: number
  /** crash restarts of this slot */
  readonly restarts: number
  readonly rssMb: number
  readonly cpuPercent: number
  readonly requestsPerSecond: number
  /** stock quota held unused, units in flight to Redis, attempts waiting for quota: all sales */
  readonly quota: number
  readonly inflight: number
  readonly parked: number
}

export interface SaleStatus {
  readonly id: string
  readonly state: string
  readonly stock: number
  readonly sold: number
  readonly remaining: number
  /** order stream entries not yet in PostgreSQL, and the age of the oldest (seconds) */
  readonly writerBacklog: number
  readonly writerLagS: number
}

export interface WorkerSaleView {
  readonly slot: number
  readonly pid: number
  /** null: the worker has no copy of the sale, or did not answer in time */
  readonly view: SaleView | null
}

export interface ReloadResult {
  readonly replaced: readonly {
    readonly slot: number
    readonly old: number
    readonly new: number
  }[]
  readonly ms: number
}
