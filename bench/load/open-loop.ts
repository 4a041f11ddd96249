import { build, type Histogram } from 'hdr-histogram-js'
import { Pool } from 'undici'
import { type Latency, type LoadResult, type LoadSpec, USER_PLACEHOLDER } from './load-spec'
import { timeBar } from './progress'

/**
 * A fixed-rate (open-loop) generator for the latency scenario, measured the way wrk2 does: the
 * i-th request is due at t0 + i/rate whether or not earlier ones have been answered, and its
 * latency runs from that intended time. A closed-loop tool (wrk, autocannon) stops sending
 * while the server stalls, so a stall shows up as one slow request instead of the hundreds a
 * real crowd would have sent meanwhile ("coordinated omission"). autocannon's own correction
 * assumes a 1 ms interval whatever the rate, and wrk has none; hence this generator.
 *
 * undici's Pool keeps `connections` keep-alive sockets; a request due while all are busy waits
 * for one, and that wait counts, as it would for a real client. The service time (from the
 * actual send, what a closed-loop tool reports) is kept beside it.
 */
// One shared timer issues every request that has fallen due: a timer per request would cost
// more than the requests at these rates. Its ~1 ms granularity is reported as the gap between
// the corrected latency and the service time.
const TICK_MS = 1
const REQUEST_TIMEOUT_MS = 10_000
const WIN = '"code":1,'

export function histogram(): Histogram {
  // microseconds, 1 µs .. 1 h, 3 significant digits
  return build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3.6e9,
    numberOfSignificantValueDigits: 3,
  })
}

/**
 * The percentiles in ms. A percentile is the highest value of its histogram bucket, which can lie
 * above the largest value recorded (3 significant digits: up to 0.1 % above): never more than max.
 */
export function summary(h: Histogram): Latency {
  const ms = (p: number) => Math.min(h.getValueAtPercentile(p), h.maxValue) / 1000
  return {
    p50: ms(50),
    p90: ms(90),
    p99: ms(99),
    p999: ms(99.9),
    max: h.maxValue / 1000,
    mean: h.mean / 1000,
  }
}

export interface OpenLoopResult extends LoadResult {
  /** the same requests timed from their actual send (what a closed-loop tool reports) */
  readonly serviceLatency: Latency
  readonly targetRate: number
  /** requests sent before the measured ones, answered but not recorded */
  readonly warmupRequests: number
}

export async function runOpenLoop(spec: LoadSpec): Promise<OpenLoopResult> {
  const rate = spec.rate
  if (rate === undefined || rate <= 0) throw new Error('open-loop needs a rate')
  const seconds = spec.duration ?? 10
  // The first `warm` requests run the same schedule but are not recorded: the generator's and
  // the server's code paths are compiled and their connections open before anything is timed.
  const warm = Math.round(rate * (spec.warmup ?? 0))
  const total = warm + Math.round(rate * seconds)
  const pool = new Pool(spec.origin, {
    connections: spec.connections,
    pipelining: 1,
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: REQUEST_TIMEOUT_MS,
  })
  const corrected = histogram()
  const service = histogram()
  const statuses: Record<string, number> = {}
  const headers = spec.body === undefined ? undefined : { 'content-type': 'application/json' }
  let errors = 0
  let wins = 0
  let warmWins = 0
  let answered = 0
  let non2xx = 0
  let last = 0
  const stopBar = timeBar(spec.label, seconds + (spec.warmup ?? 0))
  const t0 = performance.now()
  const measuredFrom = t0 + (warm * 1000) / rate

  await new Promise<void>((resolve) => {
    // Requests that are due wait here, not in undici's queue, so that the moment one goes out on
    // a free connection is known: the service time runs from there, the latency from `intended`.
    let issued = 0
    let dispatched = 0
    let inFlight = 0
    const dispatch = () => {
      while (inFlight < spec.connections && dispatched < issued) {
        const n = dispatched++
        send(t0 + (n * 1000) / rate, n)
      }
    }
    const send = (intended: number, n: number) => {
      inFlight++
      const sentAt = performance.now()
      const id = String(n)
      const path = spec.distinctUsers ? spec.path.replaceAll(USER_PLACEHOLDER, id) : spec.path
      const body = spec.distinctUsers ? spec.body?.replaceAll(USER_PLACEHOLDER, id) : spec.body
      pool
        .request({ origin: spec.origin, method: spec.method, path, headers, body })
        .then(async (res) => {
          const text = await res.body.text()
          if (n < warm) {
            if (text.includes(WIN)) warmWins++
            return
          }
          if (text.includes(WIN)) wins++
          const now = performance.now()
          last = now
          corrected.recordValue(Math.max(1, Math.round((now - intended) * 1000)))
          service.recordValue(Math.max(1, Math.round((now - sentAt) * 1000)))
          const code = String(res.statusCode)
          statuses[code] = (statuses[code] ?? 0) + 1
          if (res.statusCode < 200 || res.statusCode > 299) non2xx++
        })
        .catch(() => {
          errors++
        })
        .finally(() => {
          inFlight--
          if (++answered === total) resolve()
          else dispatch()
        })
    }
    const tick = () => {
      issued = Math.min(total, Math.floor(((performance.now() - t0) * rate) / 1000) + 1)
      dispatch()
      if (issued < total) setTimeout(tick, TICK_MS)
    }
    tick()
  })
  stopBar()
  await pool.close()
  const elapsed = (last - measuredFrom) / 1000
  const requests = answered - warm - errors
  return {
    tool: 'open-loop',
    requests,
    seconds: elapsed,
    reqPerSec: requests / elapsed,
    latency: summary(corrected),
    coCorrected: true,
    statuses,
    wins,
    non2xx,
    errors,
    closes: null,
    serviceLatency: summary(service),
    targetRate: rate,
    warmupRequests: warm,
    warmupWins: warmWins,
  }
}
