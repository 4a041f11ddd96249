/**
 * What a load generator is asked to do, and what every generator reports back in one shape, so
 * that wrk, autocannon, ab and the fixed-rate generator fill the same table.
 */
export interface LoadSpec {
  /** e.g. http://127.0.0.1:3071 */
  readonly origin: string
  readonly method: 'GET' | 'POST'
  /** path and query */
  readonly path: string
  /** Request body (JSON). */
  readonly body?: string
  /**
   * USER_PLACEHOLDER in the path or body becomes a user id that no other request of the run
   * carries.
   */
  readonly distinctUsers?: boolean
  readonly connections: number
  /** Run for this many seconds ... */
  readonly duration?: number
  /** ... or until exactly this many responses have arrived. */
  readonly amount?: number
  /** Fixed request rate (open loop, latency from the intended send time). */
  readonly rate?: number
  /** Seconds of the same fixed-rate load before the measured `duration`, not recorded. */
  readonly warmup?: number
  /**
   * One request per connection: `Connection: close`, a new connection for every request (ab:
   * HTTP/1.0 without -k; false is ab's -k).
   */
  readonly close?: boolean
  /** Shown beside the progress bar. */
  readonly label: string
}

export const USER_PLACEHOLDER = '[<id>]'

export type Tool = 'wrk' | 'autocannon' | 'open-loop' | 'ab'

export interface Latency {
  /** milliseconds */
  readonly p50: number
  readonly p90: number
  readonly p99: number
  /** null: the tool does not report it (ab's percentiles are whole percents) */
  readonly p999: number | null
  readonly max: number
  readonly mean: number
}

export interface LoadResult {
  readonly tool: Tool
  /** responses received */
  readonly requests: number
  readonly seconds: number
  readonly reqPerSec: number
  readonly latency: Latency
  /** latency measured from the intended send time of a fixed schedule (coordinated omission) */
  readonly coCorrected: boolean
  /** responses by HTTP status, when the tool can tell; otherwise only `non2xx` is known */
  readonly statuses: Readonly<Record<string, number>> | null
  /** answers that were a purchase ('"code":1,' in the body), when the tool reads bodies */
  readonly wins: number | null
  readonly non2xx: number
  /** connect/write/timeout errors and read errors other than a server's close */
  readonly errors: number
  /** connections the server closed after a response (expected with `close`); null: unknown */
  readonly closes: number | null
  /** requests answered before the measured run (the open loop's warm-up), not in any count */
  readonly warmupRequests?: number
  /** of those, the purchases */
  readonly warmupWins?: number
}

/** Split `total` over `parts` as evenly as integers allow (the first ones get the remainder). */
export function share(total: number, parts: number, index: number): number {
  return Math.floor(total / parts) + (index < total % parts ? 1 : 0)
}
