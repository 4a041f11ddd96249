import autocannon from 'autocannon'
import type { LoadResult, LoadSpec } from './load-spec'

/**
 * autocannon as the load generator (programmatic API, its own progress bar). Used when wrk is
 * not installed or `--tool autocannon` is given.
 */
export async function runAutocannon(spec: LoadSpec): Promise<LoadResult> {
  if (spec.rate !== undefined) throw new Error('autocannon runs closed loop here; use open-loop')
  // autocannon 8 drops the response it reconnects after (reconnectRate), so it counts nothing.
  if (spec.close) throw new Error('autocannon cannot measure one request per connection; use wrk')
  const headers: Record<string, string> = {}
  if (spec.body !== undefined) headers['content-type'] = 'application/json'
  const opts: autocannon.Options = {
    url: spec.origin + spec.path,
    method: spec.method,
    headers,
    body: spec.body,
    connections: spec.connections,
    // autocannon's [<id>] (path or body) is a hyperid: unique within the run, so every request
    // is another user.
    idReplacement: spec.distinctUsers === true,
    ...(spec.amount ? { amount: spec.amount } : { duration: spec.duration ?? 10 }),
    timeout: 10,
  }
  // autocannon's own duration of a counted run ends at its next one-second tick; the time from
  // the start to the last response is the run's.
  const t0 = performance.now()
  let last = t0
  const r = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(opts, (err, res) => (err ? reject(err) : resolve(res)))
    instance.on('response', () => {
      last = performance.now()
    })
    autocannon.track(instance, {
      renderProgressBar: true,
      renderResultsTable: false,
      renderLatencyTable: false,
      progressBarString: `${spec.label} [:bar] :percent`,
    })
  })
  const statuses: Record<string, number> = {}
  for (const [code, { count }] of Object.entries(r.statusCodeStats ?? {}))
    statuses[code] = count ?? 0
  const seconds = spec.amount ? (last - t0) / 1000 : r.duration
  return {
    tool: 'autocannon',
    requests: r.requests.total,
    seconds,
    reqPerSec: r.requests.total / seconds,
    latency: {
      p50: r.latency.p50,
      p90: r.latency.p90,
      p99: r.latency.p99,
      p999: r.latency.p99_9,
      max: r.latency.max,
      mean: r.latency.mean,
    },
    coCorrected: false,
    statuses,
    // autocannon does not hand bodies to its caller
    wins: null,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
    closes: null,
  }
}
