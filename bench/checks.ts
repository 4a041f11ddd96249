import { isAb } from './load/ab'
import type { LoadResult } from './load/load-spec'
import type { Plan } from './scenarios'

/**
 * Sanity checks of one load result: the runner exits non-zero when one fails, which is what CI
 * asserts. They check that the numbers are numbers a working run produces, never how fast.
 */
export interface Check {
  readonly what: string
  readonly ok: boolean
  readonly detail: string
}

export type ServerRole = 'baseline' | 'seckill' | 'target'

export function check(what: string, ok: boolean, detail: string): Check {
  return { what, ok, detail }
}

export function sanity(plan: Plan, r: LoadResult, role: ServerRole): Check[] {
  const { load } = plan
  const checks: Check[] = []
  const expected =
    load.amount ?? (load.rate && load.duration ? Math.round(load.rate * load.duration) : null)
  checks.push(
    check(
      'responses',
      expected === null ? r.requests > 0 : r.requests === expected,
      `${r.requests} responses${expected === null ? '' : `, ${expected} asked`}`,
    ),
  )
  checks.push(check('no errors', r.errors === 0, `${r.errors} connect/write/timeout errors`))
  checks.push(
    check(
      'throughput',
      Number.isFinite(r.reqPerSec) && r.reqPerSec > 0,
      `${r.reqPerSec.toFixed(0)} req/s over ${r.seconds.toFixed(2)} s`,
    ),
  )
  const l = r.latency
  // A tool without a p99.9 (ab) has its p99 checked against the max.
  const p999 = l.p999 ?? l.p99
  checks.push(
    check(
      'latency percentiles in order',
      l.p50 > 0 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= p999 && p999 <= l.max,
      `p50 ${l.p50} <= p90 ${l.p90} <= p99 ${l.p99} <= p99.9 ${l.p999 ?? '-'} <= max ${l.max} ms`,
    ),
  )
  // /buy/ticket answers 200 to everything (the reference's contract); another status is a fault.
  // A target is somebody else's server: its answers are reported, not judged.
  if (r.statuses) {
    const counted = Object.values(r.statuses).reduce((a, b) => a + b, 0)
    checks.push(
      check(
        'every answer counted by status',
        counted === r.requests,
        `${counted} of ${r.requests}`,
      ),
    )
  }
  if (role !== 'target') {
    const other = r.statuses
      ? Object.entries(r.statuses).filter(([code]) => code !== '200')
      : r.non2xx > 0
        ? [['non-2xx', r.non2xx] as const]
        : []
    checks.push(
      check(
        'every answer HTTP 200',
        other.length === 0,
        other.length === 0 ? 'all 200' : other.map(([c, n]) => `${n} x ${c}`).join(', '),
      ),
    )
  }
  // wrk sees uWS's close after every response as a read error; a server that kept the
  // connections open would show none. Each connection may be mid-request when the run stops.
  // A target may instead answer `Connection: close`, after which wrk reconnects without an error.
  if (load.close && r.closes !== null && role !== 'target') {
    checks.push(
      check(
        'a new connection per request',
        Math.abs(r.closes - r.requests) <= load.connections,
        `${r.closes} server closes for ${r.requests} responses`,
      ),
    )
  }
  return checks
}

/**
 * ApacheBench's own verdict on a run. ab counts as "Failed" every answer whose body length differs
 * from the first answer's: on /buy/ticket a sale and a refusal differ in length, so those Length
 * failures are answers, reported apart; a connect, receive or exception failure is a request
 * without one. With the units `sold` during the run (the sale's own count, or null when unknown),
 * the Length failures must be exactly the sales or exactly the refusals, whichever the first
 * answer was not: ab's view of who won, held against the server's.
 */
export function abChecks(plan: Plan, r: LoadResult, sold: number | null): Check[] {
  if (!isAb(r)) return []
  const { failedBy: f, complete, documentLength, keepAlive, writeErrors } = r.ab
  const checks = [
    check(
      'ab: no failed requests but by length',
      f.connect + f.receive + f.exceptions + writeErrors === 0,
      `Failed requests: ${r.ab.failed} (Connect: ${f.connect}, Receive: ${f.receive}, ` +
        `Length: ${f.length}, Exceptions: ${f.exceptions}); write errors: ${writeErrors}`,
    ),
  ]
  if (sold !== null) {
    checks.push(
      check(
        "ab's Length failures are the sales or the refusals",
        f.length === sold || f.length === complete - sold,
        `Length: ${f.length} against the first answer's ${documentLength} bytes; ` +
          `${sold} sold in ${complete} answers`,
      ),
    )
  }
  // -k: every answer came on a kept connection (nginx keeps them; the server behind never sees
  // the client's connections).
  if (!plan.load.close) {
    checks.push(
      check(
        'ab -k: every answer on a kept connection',
        keepAlive === complete,
        `${keepAlive} keep-alive of ${complete}`,
      ),
    )
  }
  return checks
}
